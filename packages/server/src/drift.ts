// Where drift is judged: whether an agent's digest of the bans it holds differs from what the ledger says
// it should hold for good reason, or only because commands sent to it had not been carried out when it
// made the digest (applies and syncs still in its queue, bans that ended since).
//
// What is on its way is kept in memory only. After a server restart the commands the previous process
// sent are unknown here, so an interval digest an agent makes while such commands still wait in its
// queue is judged as drift: one warning, one count in net2ban_drift_total and one whole-set sync more
// (which the agent carries out after those commands, so the outcome is right). That takes an agent with
// a backlog at the moment of the restart, and lasts until it has worked the backlog off. Keeping the
// commands on disk would cost a flushed write per command and agent on the path of every ban, and
// assuming "something unknown is on its way" for a while after a start would hide real drift for as long:
// neither is worth one redundant sync after a restart.
import { type BanDigest, digestOf, type LedgerBan } from "@net2ban/ledger";
import type { DigestMessage } from "@net2ban/protocol/fleet";

/** What an apply changes on the agent. */
export interface AppliedChange {
  op: "ban" | "unban";
  key: string;
  expiresAt: number | null;
}

/**
 * A command sent to one agent: an apply that adds or drops one ban there (answered by its result), or a
 * sync (answered by the agent's `sync` digest). A digest the agent made before it carried the command out
 * cannot show its effect. Results and digests are judged in whatever order they are handled, so an
 * answer does not remove the command: it records when (the agent's clock, as its digests) it was done.
 */
interface InFlight {
  /** The apply's id (its result's requestId), or the sync's syncId. */
  id: string;
  /** When it was sent (ms, the server's clock). */
  sentAt: number;
  /** What the apply changes on the agent; a sync has none (it may stand anywhere within the set). */
  change?: AppliedChange;
  /** When the agent had carried it out (seconds, its clock); unset while it has not answered. */
  doneAt?: number;
}

/**
 * Commands kept per agent for judging its digests; older ones are taken as lost (a digest then differs
 * for good reason). Their effects are undone one by one, newest first, up to MAX_UNDONE.
 */
export const IN_FLIGHT_KEPT = 5000;
export const MAX_UNDONE = 64;
/** Bans that ended, kept this long to judge digests an agent made before their end. */
export const ENDED_KEPT_MS = 60_000;

export interface DriftJudgeOptions {
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  /** drift_interval: a command unanswered for three of them (at least a minute) is taken as lost. */
  driftIntervalSeconds: number;
}

/** The agent whose digest is judged. */
export interface JudgedAgent {
  name: string;
  /** Its valid_wtime: a command older than that would be refused there, so it is not waited for. */
  validWindowSeconds: number;
  /** Whether it must hold `ban` (the ban's `to`, the agent's own ignoreip). */
  holds(ban: LedgerBan): boolean;
}

/** The parts of a digest the judgement reads. */
export type JudgedDigest = Pick<DigestMessage, "reason" | "timestamp" | "hash" | "count">;

/**
 * - `holds-all`: the agent holds every ban it should.
 * - `behind`: it differs, but commands on their way explain it (`behind` says which, for the log).
 * - `differs`: nothing on its way explains it (for a periodic or sync digest: drift).
 * `ledger` is the digest of what the agent should have held when it made its digest.
 */
export type Judgement =
  | { verdict: "holds-all"; ledger: BanDigest }
  | { verdict: "behind"; ledger: BanDigest; behind: string }
  | { verdict: "differs"; ledger: BanDigest };

/** The commands on their way to each agent and the bans that ended lately, to judge digests by. */
export class DriftJudge {
  readonly #now: () => number;
  readonly #driftIntervalSeconds: number;
  /** Per agent, in the order sent: commands it has not answered yet (see InFlight). */
  readonly #inFlight = new Map<string, InFlight[]>();
  /** Bans that ended lately, with when they were dropped (ms): a digest made before their end holds them. */
  #ended: Array<{ ban: LedgerBan; at: number }> = [];

  constructor(options: DriftJudgeOptions) {
    this.#now = options.now;
    this.#driftIntervalSeconds = options.driftIntervalSeconds;
  }

  /** Notes an apply (`change`) or a sync (no change) sent to `client`: after the ledger changed, before it is published. */
  sent(client: string, id: string, change?: AppliedChange): void {
    let list = this.#inFlight.get(client);
    if (list === undefined) {
      list = [];
      this.#inFlight.set(client, list);
    }
    list.push({ id, sentAt: this.#now(), ...(change === undefined ? {} : { change }) });
    if (list.length > IN_FLIGHT_KEPT) list.splice(0, list.length - IN_FLIGHT_KEPT);
  }

  /** The result of apply `requestId`, carried out at `doneAt` (seconds, the agent's clock). */
  resultArrived(client: string, requestId: string, doneAt: number): void {
    this.#answered(client, (entry) => entry.change !== undefined && entry.id === requestId, doneAt);
  }

  /** Bans the ledger dropped at their end just now. */
  ended(bans: readonly LedgerBan[]): void {
    const at = this.#now();
    this.#pruneEnded();
    for (const ban of bans) this.#ended.push({ ban, at });
  }

  /** A client removed from the config. */
  forget(client: string): void {
    this.#inFlight.delete(client);
  }

  /** Commands to `client` still kept for judging its digests. */
  pending(client: string): number {
    return this.#inFlight.get(client)?.length ?? 0;
  }

  /** Judges `digest` of `agent` against `expected`, the active bans it must hold now. */
  judge(agent: JudgedAgent, digest: JudgedDigest, expected: readonly LedgerBan[]): Judgement {
    const name = agent.name;
    // The agent sends this after each sync it carried out, in order: the oldest sync on its way is done.
    if (digest.reason === "sync") {
      this.#answered(name, (entry) => entry.change === undefined, digest.timestamp);
    }
    this.#prune(agent, digest.timestamp);
    // As the agent saw it when it made the digest (its clock): a ban that ended since is still in it.
    const keys = this.#keysAt(agent, expected, digest.timestamp);
    const ledger = digestOf(keys);
    if (ledger.hash === digest.hash && ledger.count === digest.count) return { verdict: "holds-all", ledger };
    if (digest.reason === "interval" || digest.reason === "sync") {
      const behind = this.#behind(name, keys, digest);
      if (behind !== undefined) return { verdict: "behind", ledger, behind };
    }
    return { verdict: "differs", ledger };
  }

  /** Keys `agent` should hold as of `at` (seconds, its clock), from what it should hold now. */
  #keysAt(agent: JudgedAgent, expected: readonly LedgerBan[], at: number): string[] {
    const keys = expected.filter((ban) => ban.expiresAt === null || ban.expiresAt > at).map((ban) => ban.key);
    this.#pruneEnded();
    const ended = this.#ended
      .map((entry) => entry.ban)
      .filter((ban) => ban.expiresAt !== null && ban.expiresAt > at && agent.holds(ban));
    return [...keys, ...ended.map((ban) => ban.key)];
  }

  #pruneEnded(): void {
    const cutoff = this.#now() - ENDED_KEPT_MS;
    if (this.#ended.length > 0 && this.#ended[0]!.at < cutoff) {
      this.#ended = this.#ended.filter((entry) => entry.at >= cutoff);
    }
  }

  /**
   * Forgets the commands of `agent` that no digest from now on can predate: answered before `at` (the
   * digest being judged; a second's slack for digests handled out of order), or unanswered for longer
   * than the wait allowed (valid_wtime, at most 3 drift intervals or a minute): taken as lost.
   */
  #prune(agent: JudgedAgent, at: number): void {
    const list = this.#inFlight.get(agent.name);
    if (list === undefined) return;
    const waitSeconds = Math.min(agent.validWindowSeconds, Math.max(60, 3 * this.#driftIntervalSeconds));
    const oldest = this.#now() - waitSeconds * 1000;
    const kept = list.filter(
      (entry) => entry.sentAt >= oldest && (entry.doneAt === undefined || entry.doneAt >= at - 1),
    );
    if (kept.length === 0) this.#inFlight.delete(agent.name);
    else list.splice(0, list.length, ...kept);
  }

  /**
   * The agent answered, at `doneAt` (its clock), the oldest command of `client` that `match` picks not
   * answered yet: it takes its queue in order, so the ones sent before were behind it by then (carried
   * out, or refused and never to be).
   */
  #answered(client: string, match: (entry: InFlight) => boolean, doneAt: number): void {
    const list = this.#inFlight.get(client);
    if (list === undefined) return;
    const at = list.findIndex((entry) => entry.doneAt === undefined && match(entry));
    for (let i = 0; i <= at; i++) list[i]!.doneAt ??= doneAt;
  }

  /**
   * Whether a differing digest is explained by commands the agent had not carried out when it made it: a
   * sync (the agent may be anywhere within it), or applies whose effects, undone newest first, give the
   * agent's digest. Returns what it is behind (for the log), or undefined when the digest differs for
   * real.
   */
  #behind(client: string, keys: readonly string[], digest: JudgedDigest): string | undefined {
    // Done by the time the digest was made (a sync digest answers its own sync): it shows their effect.
    const pending = (this.#inFlight.get(client) ?? []).filter(
      (entry) => entry.doneAt === undefined || entry.doneAt > digest.timestamp,
    );
    if (pending.length === 0) return undefined;
    if (pending.some((entry) => entry.change === undefined)) return "a sync still on its way to it";
    const held = new Set(keys);
    const undone = pending.slice(-MAX_UNDONE).reverse();
    for (const [index, { change }] of undone.entries()) {
      if (change!.op === "ban") held.delete(change!.key);
      else if (change!.expiresAt === null || change!.expiresAt > digest.timestamp) held.add(change!.key);
      const then = digestOf(held);
      if (then.hash === digest.hash && then.count === digest.count) {
        return `${index + 1} command(s) still on their way to it`;
      }
    }
    return undefined;
  }
}
