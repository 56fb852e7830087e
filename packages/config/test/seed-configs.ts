// The sample configurations of the original net2ban README ("Configuration schema" and "Sample
// configuration"), copied verbatim from /work/shared/seed/000_c1c28a37502a92ab.txt.

/** "Configuration schema": the file as the original shipped it. */
export const SCHEMA_CONFIG = `[global]
server = 172.16.0.1
rounds = 12000
secret = 57bae6f17927fee0309cd0fcf900903d0bf49277
mode = server
valid_wtime = 3600
authkey = fe64809ba0286c72123d15ffb3554f261ef835d0
queue_prefix = net2ban_

[server]
input = input_net2ban
key = 1e3648858a30a105374c1a8a7f05e4fc0dff2abc

[keygen]
keylen = 40

[client1]
key = key1
`;

/** "Sample configuration / Server side": the minimum required configuration. */
export const MINIMUM_CONFIG = `[global]
server = 172.16.15.2
rounds = 12000
secret = 57bae6f17927fee0309cd0fcf900903d0bf49277
mode = server
valid_wtime = 3600
authkey = fe64809ba0286c72123d15ffb3554f261ef835d0
queue_prefix = net2ban_

[server]
input = input_net2ban
key = 1e3648858a30a105374c1a8a7f05e4fc0dff2abc

[keygen]
keylen = 40

[client1]
key = key1

[client2]
key = key2
`;

/** The minimum configuration after setting the generated keys and `[client2] rounds = 100`. */
export const GENERATED_KEYS_CONFIG = `[global]
server = 172.16.15.2
rounds = 12000
secret = 57bae6f17927fee0309cd0fcf900903d0bf49277
mode = server
valid_wtime = 3600
authkey = fe64809ba0286c72123d15ffb3554f261ef835d0
queue_prefix = net2ban_

[server]
input = input_net2ban
key = 1e3648858a30a105374c1a8a7f05e4fc0dff2abc

[keygen]
keylen = 40

[client1]
key = ca82cd669623f6434e02eecade0236b50fc18cb3

[client2]
rounds = 100
key = 767c138a4483e692f41af3d1491f06c0ead41b5b
`;

/** `net2banctl get_client client1 > client1.cfg; cat client1.cfg` from GENERATED_KEYS_CONFIG. */
export const CLIENT1_EXPORT = `[global]
server = 172.16.15.2
rounds = 12000
secret = 57bae6f17927fee0309cd0fcf900903d0bf49277
mode = client
valid_wtime = 3600
authkey = fe64809ba0286c72123d15ffb3554f261ef835d0
queue_prefix = net2ban_

[keygen]
keylen = 40

[client1]
key = ca82cd669623f6434e02eecade0236b50fc18cb3
`;
