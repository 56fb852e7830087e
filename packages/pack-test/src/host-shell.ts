// A root shell on a stand-in host, for running a guide's commands as a reader would type them: its own
// mount namespace where /etc, /usr, /var and /root are overlays of this machine's (so useradd, npm
// install -g and /etc/net2ban stay inside it), its own host name, and optionally a network namespace.
// One bash process per host keeps variables and the working directory from one block to the next.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export class HostShellError extends Error {
  override name = "HostShellError";
}

export interface HostShellOptions {
  /** Host name (also `hostname -s` inside). */
  name: string;
  /** Where the overlays' upper layers and the block files go (a directory of the real file system). */
  dir: string;
  /** Command prefix that enters the host's network namespace (`ip netns exec NS`), or none. */
  netnsPrefix?: readonly string[];
  /** Mounted read-only at /root/net2ban, as the guide's `git clone` would put it (on that host only). */
  checkout?: string;
  env: NodeJS.ProcessEnv;
}

export interface BlockResult {
  /** Exit status of the block (0 unless `tolerateFailure`; a failing block otherwise ends the shell). */
  status: number;
  /** stdout and stderr, interleaved as the block printed them. */
  output: string;
}

// Runs as root in the new mount namespace before the shell starts.
const SETUP = `
set -e
name="$1"; dir="$2"; checkout="$3"
for d in etc usr var root; do
  mkdir -p "$dir/$d.upper" "$dir/$d.work"
  mount -t overlay "n2b-$name-$d" -o "lowerdir=/$d,upperdir=$dir/$d.upper,workdir=$dir/$d.work" "/$d"
done
# A new host has no net2ban state or config: hide (whiteouts in the upper layer, the machine's own
# files untouched) whatever other runs on this machine left there, e.g. a root-owned ledger.
rm -rf /var/lib/net2ban /etc/net2ban
if [ -n "$checkout" ]; then
  mkdir -p /root/net2ban
  mount --bind -r "$checkout" /root/net2ban
fi
hostname "$name"
cd /root
exec bash --noprofile --norc
`;

export class HostShell {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  #output = "";
  #exit: string | undefined;
  #blocks = 0;

  private constructor(name: string, dir: string, child: ChildProcess) {
    this.name = name;
    this.#dir = dir;
    this.#child = child;
    child.stdout?.on("data", (d: Buffer) => {
      this.#output += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      this.#output += d.toString();
    });
    child.once("exit", (code, signal) => {
      this.#exit = `${code ?? signal}`;
    });
    // Writing to a shell that has just died fails with EPIPE; run() reports the exit instead.
    child.stdin?.on("error", () => {});
  }

  /** The pid of the host's shell: `nsenter --target PID --mount` enters its file system. */
  get pid(): number {
    if (this.#child.pid === undefined) throw new HostShellError(`${this.name}: shell has no pid`);
    return this.#child.pid;
  }

  static async start(options: HostShellOptions): Promise<HostShell> {
    const dir = join(options.dir, options.name);
    await mkdir(join(dir, "blocks"), { recursive: true });
    const child = spawn(
      (options.netnsPrefix ?? [])[0] ?? "unshare",
      [
        ...(options.netnsPrefix ?? []).slice(1),
        ...((options.netnsPrefix ?? []).length > 0 ? ["unshare"] : []),
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "sh",
        "-c",
        SETUP,
        "sh", // $0
        options.name,
        join(dir, "fs"),
        options.checkout ?? "",
      ],
      { env: options.env, stdio: ["pipe", "pipe", "pipe"] },
    );
    const shell = new HostShell(options.name, dir, child);
    // Errors stop the shell (as `set -e` stops a script); stderr joins stdout to keep the order.
    await shell.run("set -euo pipefail\nexec 2>&1\nhostname -s");
    return shell;
  }

  /**
   * Runs `code` in the host's shell as if typed there (variables and cwd carry over) and resolves with
   * its output. A failing command ends the shell and rejects, unless `tolerateFailure` (for checks
   * that are retried until they pass).
   */
  async run(
    code: string,
    options: { timeoutMs?: number; tolerateFailure?: boolean } = {},
  ): Promise<BlockResult> {
    if (this.#exit !== undefined)
      throw new HostShellError(`${this.name}: the shell has exited (${this.#exit})`);
    const file = join(this.#dir, "blocks", `${++this.#blocks}.sh`);
    await writeFile(file, `${code}\n`);
    const marker = `__n2b_done_${randomBytes(6).toString("hex")}__`;
    const start = this.#output.length;
    const command = options.tolerateFailure
      ? `set +e; source ${file} </dev/null; n2b_status=$?; set -e; printf '\\n${marker} %s\\n' "$n2b_status"\n`
      : `source ${file} </dev/null; printf '\\n${marker} 0\\n'\n`;
    this.#child.stdin?.write(command);
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const output = this.#output.slice(start);
      const done = new RegExp(`\\n?${marker} (\\d+)\\n`).exec(output);
      if (done) return { status: Number(done[1]), output: output.slice(0, done.index) };
      if (this.#exit !== undefined) {
        throw new HostShellError(
          `${this.name}: the block failed and ended the shell (${this.#exit}):\n${output}`,
        );
      }
      if (Date.now() > deadline) {
        throw new HostShellError(
          `${this.name}: the block did not finish in ${options.timeoutMs ?? 120_000} ms:\n${output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Ends the shell (services it started are the caller's to stop). */
  async close(): Promise<void> {
    if (this.#exit !== undefined) return;
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    this.#child.kill("SIGKILL");
    await exited;
  }
}
