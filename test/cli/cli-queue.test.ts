import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ttyView } from "../../src/cli/progress.ts";
import { bedFlags, httpFlags, runCli, show, startCli, startCliBed, type CliBed, type StartedCli } from "./cli-bed.ts";

// Issue 26: a certificate waiting for the CA's limits is visible to a later process. `edgecert renew`
// and `edgecert issue` in the background wait in the fleet's queue (in the shared storage) behind a
// one-new-order-an-hour limit (EDGECERT_CA_LIMITS); `edgecert list`, another process, prints where each
// waits, the limit holding it and when it is expected (exact and relative), and `--json` carries the
// same; once they are interrupted the queue is empty again. Real CLI (Node bundle), Pebble.
let bed: CliBed;
beforeAll(async () => {
  bed = await startCliBed();
});
afterAll(async () => {
  await bed?.stop();
});

const LIMITS = { EDGECERT_CA_LIMITS: "orders=1/1h" };
const HOUR = 3_600_000;

interface Queue {
  position: number;
  of: number;
  estimatedAt: string;
  renewal: boolean;
  blockedBy: { kind: string; subject: string; until: string } | null;
}

/** Waits (bounded) until a background run says it waits for the CA's limits. */
async function queuedNote(run: StartedCli, name: string): Promise<string> {
  let exited: number | null | undefined;
  void run.done.then((r) => (exited = r.code));
  await vi.waitFor(() => expect(exited === undefined ? run.stderr() : `exited ${exited}: ${run.stderr()}`).toMatch(new RegExp(`${name.replace(/\./g, "\\.")} queued #\\d+ of \\d+ for the CA's new-order limit`)), { timeout: 60_000, interval: 100 });
  return run.stderr().split("\n").find((l) => l.includes(`${name} queued`))!;
}

describe("the CA's queue in edgecert list", () => {
  it("a renewal and a first issuance waiting in other processes: list shows their place, the limit and the expected time; gone once they stop", { timeout: 180_000 }, async () => {
    const dir = join(bed.dir, "queue");
    const flags = [...httpFlags(bed), ...bedFlags(bed, dir)];
    const first = await runCli(bed, "node", ["issue", "-d", "a.queue.test", "--agree-tos", ...flags, "--json"], LIMITS);
    expect(first.code, show(first)).toBe(0);
    const issuedAt = Date.now();

    // The limit's one token is spent: both wait, nothing is sent.
    const renewal = startCli(bed, "node", ["renew", "--cert-name", "a.queue.test", "--force", ...bedFlags(bed, dir).slice(0, 2)], LIMITS, 170_000);
    const note = await queuedNote(renewal, "a.queue.test");
    const issue = startCli(bed, "node", ["issue", "-d", "b.queue.test", "--agree-tos", ...flags], LIMITS, 170_000);
    const behind = await queuedNote(issue, "b.queue.test");
    // The waiting processes' own progress says it too: where in the fleet's queue, and until when.
    expect(note).toMatch(/queued #1 of 1 for the CA's new-order limit \(.*\), expected \d{4}-\d\d-\d\dT[\d:.]+Z \(in (59 minutes|60 minutes|1 hour)\)/);
    expect(behind).toMatch(/queued #2 of 2 for the CA's new-order limit \(.*\), expected \S+Z \(in 2 hours\)/);

    try {
      const listed = await runCli(bed, "node", ["list", "--dir", dir, "--json"], LIMITS);
      expect(listed.code, show(listed)).toBe(0);
      const [a] = listed.json!.certificates as Array<{ name: string; queue: Queue | null }>;
      const pending = listed.json!.queued as Array<{ names: string[]; queue: Queue }>;
      expect(a!.name).toBe("a.queue.test");
      // The renewal goes first; both behind the account's new-order bucket.
      expect(a!.queue).toMatchObject({ position: 1, of: 2, renewal: true, blockedBy: { kind: "orders" } });
      expect(a!.queue!.blockedBy!.subject).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\/\w+$/);
      expect(pending.map((p) => p.names)).toEqual([["b.queue.test"]]);
      expect(pending[0]!.queue).toMatchObject({ position: 2, of: 2, renewal: false, blockedBy: { kind: "orders" } });
      // The bucket refills an hour after the first order; the second waits one refill interval (an
      // hour) more, plus the budget's send margin (a spend counts as reaching the CA up to 1 s late).
      const eta = Date.parse(a!.queue!.estimatedAt);
      expect(eta).toBeGreaterThanOrEqual(issuedAt - 60_000 + HOUR);
      expect(eta).toBeLessThanOrEqual(Date.now() + HOUR + 2_000);
      expect(Date.parse(pending[0]!.queue.estimatedAt) - eta).toBe(HOUR + 1_000);

      const text = await runCli(bed, "node", ["list", "--dir", dir], LIMITS);
      expect(text.code, show(text)).toBe(0);
      const lines = text.stdout.split("\n");
      const at = lines.indexOf("a.queue.test: a.queue.test");
      expect(lines[at + 2]).toMatch(/^ {2}queued #1 of 2 for the CA's new-order limit \(https:\/\/127\.0\.0\.1:\d+\/my-account\/\w+\), expected \S+Z \(in (59 minutes|60 minutes|1 hour)\) \(renewal\)$/);
      expect(lines).toContain("(being issued) b.queue.test");
      expect(lines[lines.indexOf("(being issued) b.queue.test") + 1]).toMatch(/^ {2}queued #2 of 2 for the CA's new-order limit \(.*\), expected \S+Z \(in 2 hours\)$/);
      console.log(`queue in edgecert list:\n${text.stdout}`);
    } finally {
      renewal.child.kill("SIGINT");
      issue.child.kill("SIGINT");
    }
    // Interrupted: each gives its place up; nothing was sent for them.
    expect((await renewal.done).code).toBe(130);
    expect((await issue.done).code).toBe(130);
    const after = await runCli(bed, "node", ["list", "--dir", dir, "--json"], LIMITS);
    expect((after.json!.certificates as Array<{ queue: Queue | null }>)[0]!.queue).toBeNull();
    expect(after.json!.queued).toEqual([]);
  });

  it("on a terminal, the waiting note shows before the certificate's block starts (was dropped: notes needed a block)", () => {
    let written = "";
    const view = ttyView({ write: (t) => void (written += t), columns: 200 }, () => 0, 1_000_000);
    view.event({ type: "note", cert: "a.queue.test", message: "queued #1 of 1 for the CA's new-order limit (x), expected 2026-12-06T13:00:00.000Z (in 1 hour)" });
    view.event({ type: "start", cert: "a.queue.test", names: ["a.queue.test"], action: "renewing" });
    view.close();
    expect(written).toContain("a.queue.test: queued #1 of 1 for the CA's new-order limit (x), expected 2026-12-06T13:00:00.000Z (in 1 hour)\n");
    expect(written.indexOf("queued #1")).toBeLessThan(written.indexOf("renewing a.queue.test"));
  });
});
