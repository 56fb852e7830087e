// Drift judging on its own, with a clock and no broker: digests an agent made before the commands on their
// way reached it are not drift (applies undone newest first, up to 64; a sync on its way), answered or
// lost commands no longer excuse a differing digest, and bans that ended since the digest was made.
import { banKey, digestOf, type LedgerBan } from "@net2ban/ledger";
import { beforeEach, describe, expect, it } from "vitest";
import { DriftJudge, IN_FLIGHT_KEPT, type JudgedAgent, type JudgedDigest, MAX_UNDONE } from "./drift.js";

let clock = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = () => clock;
/** The server's clock in seconds, as the agents' digests and results carry theirs. */
const t = () => clock / 1000;

const keyOf = (ip: string) => banKey({ file: "demo", name: "sshd", ip });

function ban(ip: string, expiresAt: number | null = null, to: string[] | null = null): LedgerBan {
  return {
    file: "demo",
    name: "sshd",
    ip,
    key: keyOf(ip),
    params: {},
    expiresAt,
    createdAt: t(),
    updatedAt: t(),
    requestId: `r-${ip}`,
    sender: "test",
    publisher: "server",
    holders: new Map([["server", expiresAt]]),
    to,
    hosts: new Map(),
  };
}

const web1: JudgedAgent = {
  name: "web1",
  validWindowSeconds: 3600,
  holds: (b) => b.to === null || b.to.includes("web1"),
};

function digest(ips: string[], reason: JudgedDigest["reason"] = "interval", at = t()): JudgedDigest {
  return { reason, timestamp: at, ...digestOf(ips.map(keyOf)) };
}

let judge: DriftJudge;
beforeEach(() => {
  clock = Date.UTC(2026, 0, 15, 12, 0, 0);
  judge = new DriftJudge({ now, driftIntervalSeconds: 60 });
});

/** The judge's view once the ledger holds `ips` and an apply of `op` for `ip` went out as `id`. */
function sentApply(id: string, op: "ban" | "unban", ip: string): void {
  judge.sent("web1", id, { op, key: keyOf(ip), expiresAt: null });
}

describe("a digest against what the agent should hold", () => {
  it("the same set: holds-all; another set with nothing on its way: differs", () => {
    const expected = [ban("203.0.113.1"), ban("203.0.113.2")];
    expect(judge.judge(web1, digest(["203.0.113.2", "203.0.113.1"]), expected).verdict).toBe("holds-all");
    const judged = judge.judge(web1, digest(["203.0.113.1"]), expected);
    expect(judged).toEqual({ verdict: "differs", ledger: digestOf(expected.map((b) => b.key)) });
  });

  it("a ban the agent need not hold (its `to`) is not expected of it", () => {
    const expected = [ban("203.0.113.1"), ban("203.0.113.2", null, ["web2"])].filter(web1.holds);
    expect(judge.judge(web1, digest(["203.0.113.1"]), expected).verdict).toBe("holds-all");
  });

  it("a ban that ended after the agent made its digest is still expected in it", () => {
    const ending = ban("203.0.113.1", t() + 1);
    const before = t();
    clock += 2000;
    judge.ended([ending]);
    // Made before the end (its clock): it held the ban then.
    expect(judge.judge(web1, digest(["203.0.113.1"], "interval", before), []).verdict).toBe("holds-all");
    // Made after the end and still holding it: the agent did not lift it.
    expect(judge.judge(web1, digest(["203.0.113.1"]), []).verdict).toBe("differs");
    // Forgotten a minute after its end: a late digest from before it is then judged on the ledger alone.
    clock += 61_000;
    expect(judge.judge(web1, digest(["203.0.113.1"], "interval", before), []).verdict).toBe("differs");
  });
});

describe("commands on their way", () => {
  it("pending applies are undone newest first: each step back in time explains an older digest", () => {
    // The ledger holds .2 now: .1 was banned and unbanned, .2 banned; the agent answered nothing yet.
    const expected = [ban("203.0.113.2")];
    sentApply("b1", "ban", "203.0.113.1");
    sentApply("b2", "ban", "203.0.113.2");
    sentApply("u1", "unban", "203.0.113.1");
    const judged = (ips: string[]) => judge.judge(web1, digest(ips), expected);
    // Before the unban only: the newest command undone.
    expect(judged(["203.0.113.1", "203.0.113.2"])).toMatchObject({
      verdict: "behind",
      behind: "1 command(s) still on their way to it",
    });
    // Before the second ban too.
    expect(judged(["203.0.113.1"])).toMatchObject({
      verdict: "behind",
      behind: "2 command(s) still on their way to it",
    });
    // Before all three.
    expect(judged([])).toMatchObject({ verdict: "behind", behind: "3 command(s) still on their way to it" });
    // No prefix of them explains a set with .2 and without .1's ban being undone first.
    expect(judged(["203.0.113.3"]).verdict).toBe("differs");
  });

  it("only a periodic or a sync digest can be behind: a start digest that differs is a catch-up", () => {
    sentApply("b1", "ban", "203.0.113.1");
    expect(judge.judge(web1, digest([], "start"), [ban("203.0.113.1")]).verdict).toBe("differs");
    expect(judge.judge(web1, digest([], "reconnect"), [ban("203.0.113.1")]).verdict).toBe("differs");
  });

  it("once the agent answered an apply, a digest made after it that lacks its effect differs", () => {
    const expected = [ban("203.0.113.1")];
    sentApply("b1", "ban", "203.0.113.1");
    expect(judge.judge(web1, digest([]), expected).verdict).toBe("behind");
    judge.resultArrived("web1", "b1", t());
    clock += 10;
    expect(judge.judge(web1, digest([]), expected).verdict).toBe("differs");
  });

  it("a result answers the commands sent before it too: the agent takes its queue in order", () => {
    const expected = [ban("203.0.113.1"), ban("203.0.113.2")];
    sentApply("b1", "ban", "203.0.113.1");
    sentApply("b2", "ban", "203.0.113.2");
    // b1's result was lost; b2's arrives.
    judge.resultArrived("web1", "b2", t());
    clock += 10;
    expect(judge.judge(web1, digest(["203.0.113.2"]), expected).verdict).toBe("differs");
  });

  it("a digest made before the agent answered still sees the command on its way", () => {
    const expected = [ban("203.0.113.1")];
    sentApply("b1", "ban", "203.0.113.1");
    const before = t();
    clock += 5000;
    judge.resultArrived("web1", "b1", t());
    // Handled after the result, made before it: the ban was not carried out yet.
    expect(judge.judge(web1, digest([], "interval", before), expected).verdict).toBe("behind");
  });

  it("a command unanswered for three drift intervals is taken as lost, sooner with a short valid_wtime", () => {
    const expected = [ban("203.0.113.1")];
    sentApply("b1", "ban", "203.0.113.1");
    clock += 170_000;
    expect(judge.judge(web1, digest([]), expected).verdict).toBe("behind");
    // drift_interval 60 s: after 180 s the apply is not waited for any more.
    clock += 20_000;
    expect(judge.judge(web1, digest([]), expected).verdict).toBe("differs");
    expect(judge.pending("web1")).toBe(0);

    const short = { ...web1, validWindowSeconds: 30 };
    sentApply("b2", "ban", "203.0.113.1");
    clock += 29_000;
    expect(judge.judge(short, digest([]), expected).verdict).toBe("behind");
    clock += 2_000;
    expect(judge.judge(short, digest([]), expected).verdict).toBe("differs");
  });

  it("a short drift interval still waits a minute for a command", () => {
    const fast = new DriftJudge({ now, driftIntervalSeconds: 5 });
    fast.sent("web1", "b1", { op: "ban", key: keyOf("203.0.113.1"), expiresAt: null });
    clock += 59_000;
    expect(fast.judge(web1, digest([]), [ban("203.0.113.1")]).verdict).toBe("behind");
    clock += 2_000;
    expect(fast.judge(web1, digest([]), [ban("203.0.113.1")]).verdict).toBe("differs");
  });

  it(`at most ${MAX_UNDONE} pending applies are undone to explain a digest`, () => {
    const ips = Array.from({ length: MAX_UNDONE + 1 }, (_, i) => `203.0.113.${i + 1}`);
    const expected = ips.map((ip) => ban(ip));
    for (const ip of ips) sentApply(`b-${ip}`, "ban", ip);
    // The first ban carried out, the 64 after it not: explained by undoing the 64 newest.
    expect(judge.judge(web1, digest([ips[0]!]), expected)).toMatchObject({
      verdict: "behind",
      behind: `${MAX_UNDONE} command(s) still on their way to it`,
    });
    // None carried out: it would take 65.
    expect(judge.judge(web1, digest([]), expected).verdict).toBe("differs");
  });

  it(`at most ${IN_FLIGHT_KEPT} commands are kept per agent; forget() drops an agent's`, () => {
    for (let i = 0; i < IN_FLIGHT_KEPT + 10; i++) judge.sent("web1", `s${i}`);
    expect(judge.pending("web1")).toBe(IN_FLIGHT_KEPT);
    judge.forget("web1");
    expect(judge.pending("web1")).toBe(0);
  });
});

describe("a sync on its way", () => {
  it("a periodic digest is not judged while a sync is on its way; the sync's own digest decides", () => {
    const expected = [ban("203.0.113.1"), ban("203.0.113.2")];
    judge.sent("web1", "sync-1");
    // Part of the set applied when the periodic check fires.
    expect(judge.judge(web1, digest(["203.0.113.1"]), expected)).toMatchObject({
      verdict: "behind",
      behind: "a sync still on its way to it",
    });
    // The sync digest answers the sync: it must hold the whole set now.
    clock += 10;
    expect(judge.judge(web1, digest(["203.0.113.1"], "sync"), expected).verdict).toBe("differs");
    expect(judge.judge(web1, digest(["203.0.113.1", "203.0.113.2"], "sync"), expected).verdict).toBe(
      "holds-all",
    );
  });

  it("a ban sent after the sync may be missing from the sync's digest", () => {
    const expected = [ban("203.0.113.1"), ban("203.0.113.2")];
    judge.sent("web1", "sync-1");
    sentApply("b2", "ban", "203.0.113.2");
    clock += 10;
    expect(judge.judge(web1, digest(["203.0.113.1"], "sync"), expected)).toMatchObject({
      verdict: "behind",
      behind: "1 command(s) still on their way to it",
    });
  });
});
