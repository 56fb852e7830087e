// pnpm demo: a server and three agents on the local RabbitMQ, one ban, each agent's confirmation, then cleanup.
import { Fleet, probeBroker } from "../packages/fleet/dist/index.js";

const url = process.env.NET2BAN_DEMO_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/";
const ip = "203.0.113.9";

try {
  await probeBroker(url);
} catch (error) {
  console.error(
    `net2ban demo: RabbitMQ is not answering at ${url.replace(/:[^:@/]*@/, ":***@")} (${error.code ?? error.message}); start it with \`rabbitmq-server -detached\` or set NET2BAN_DEMO_AMQP_URL`,
  );
  process.exit(1);
}

const fleet = await Fleet.create({ agents: 3, brokerUrl: url, label: "demo" });
let failed = false;
try {
  console.log(`demo: config and action files in ${fleet.dir}`);
  await fleet.startAll();
  console.log(`demo: net2ban-server and ${fleet.agentNames.join(", ")} running (queues ${fleet.prefix}_*)`);

  for (const verb of ["ban", "unban"]) {
    const started = Date.now();
    const result = await fleet.ctl([verb, ip, "--action", "net2ban-demo", "--name", "demo"]);
    const exited = Date.now();
    if (result.code !== 0)
      throw new Error(`net2banctl ${verb} exited ${result.code}: ${result.stderr.trim()}`);
    console.log(
      `demo: net2banctl ${verb} ${ip}: ${result.stdout.trim()} (net2banctl process: ${exited - started} ms, exit 0 = confirmed by the broker)`,
    );
    const id = result.stdout.match(/\(([^)]+)\)/)?.[1];
    const forwarded = await fleet.waitForLog("server", (l) => l.id === id && l.msg.startsWith("Forwarding:"));
    console.log(`  server: "${forwarded.msg}" to ${forwarded.clients} agents`);
    await Promise.all(
      fleet.agentNames.map(async (name) => {
        await fleet.waitForBanLine(name, `${verb} ${ip}`);
        const line = await fleet.waitForLog(name, (l) => l.msg === `IP ${ip} ${verb}ned`);
        console.log(
          `  ${name}: "${line.msg}" ${line.time - forwarded.time} ms after the server forwarded it, ${line.time - started} ms after net2banctl started`,
        );
      }),
    );
  }
  for (const name of fleet.agentNames) {
    console.log(`  ${name} action log: ${(await fleet.banLines(name)).join(" | ")}`);
  }
} catch (error) {
  failed = true;
  console.error(`net2ban demo failed: ${error.message}`);
} finally {
  await fleet.close();
  console.log("demo: stopped everything, deleted the queues and the temp directory");
}
process.exit(failed ? 1 : 0);
