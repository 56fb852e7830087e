// Free TCP ports on loopback, for private broker nodes that must not clash with anyone else's.

import { createServer } from "node:net";

/** A port that was free a moment ago (the OS picks it); there is a small race, as with any such helper. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("could not read the port the OS picked"));
      });
    });
  });
}
