// docs/getting-started.md writes its RabbitMQ permissions by hand (a reader sees each one); they must be
// exactly what `net2banctl rabbitmq-setup` generates for the guide's own config, so that the guide's
// logins can do what the tool's can (`--wait` and `status` need the reply queue) and nothing more.
// getting-started.int.test.ts runs the guide; this checks the lines against the tool without root.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// The planner is ctl's own code (as the fleet's namespace helpers, it is not a package export).
import { parseConfig } from "../../config/src/index.js";
import { permissionCalls, planRabbitmqSetup, shellQuote } from "../../ctl/src/rabbitmq-setup.js";
import { REPO_ROOT } from "./workspace.js";

const guide = readFileSync(join(REPO_ROOT, "docs", "getting-started.md"), "utf8");

/** The guide's net2ban.cfg (its heredoc in step 3), with the shell's values filled in. */
function guideConfig(): string {
  const heredoc = /cat > net2ban\.cfg <<EOF\n([\s\S]*?)\nEOF\n/.exec(guide)?.[1];
  if (heredoc === undefined) throw new Error("docs/getting-started.md: no `cat > net2ban.cfg <<EOF` block");
  let random = 0;
  return heredoc
    .replaceAll("$(net2banctl gen_random)", () => `random${++random}`)
    .replace(/\$([A-Z0-9_]+)/g, (_, name: string) =>
      name === "MQ" ? "mq.example.net" : name === "MQ_PORT" ? "5672" : `<${name}>`,
    );
}

/** The guide's rabbitmqctl permission lines (step 2), as written. */
function guidePermissionLines(): string[] {
  return guide.split("\n").filter((line) => /^rabbitmqctl set_(topic_)?permissions /.test(line));
}

describe("docs/getting-started.md's RabbitMQ logins", () => {
  it("have exactly the permissions rabbitmq-setup generates for the guide's config", () => {
    const { config } = parseConfig(guideConfig(), "net2ban.cfg");
    const plan = planRabbitmqSetup(config, { randomPassword: () => "generated" });
    // The guide's logins are those of its config: the planner takes each from its url.
    expect(plan.logins.map((l) => [l.user, l.passwordFrom])).toEqual([
      ["net2ban-server", "config"],
      ["net2ban-ctl", "config"],
      ["net2ban-web1", "config"],
      ["net2ban-web2", "config"],
    ]);
    const generated = permissionCalls(plan)
      .filter((call) => call.args[0] === "set_permissions" || call.args[0] === "set_topic_permissions")
      .map((call) => ["rabbitmqctl", ...call.args].map(shellQuote).join(" "));
    expect(guidePermissionLines()).toEqual(generated);
  });

  it("the config sets the exchanges those permissions are written for", () => {
    const { config } = parseConfig(guideConfig(), "net2ban.cfg");
    expect(config.broker.inputExchange).toBe("net2ban.input");
    expect(config.broker.deadLetterExchange).toBe("net2ban.dead");
  });
});
