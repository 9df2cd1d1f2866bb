/**
 * Where the fleet's CA budget drifted from the CA's own accounting after a refusal (issue 26, found by
 * review): each case is what a user would meet, with the manager's own calls (CaBudgets) on a storage
 * in memory and a clock the test moves.
 * - Let's Encrypt's refusal for a paused identifier ("Your account is temporarily prevented from
 *   requesting certificates for …", rateLimited / 429, after 1,152 consecutive validation failures, no
 *   Retry-After) was read as the account's order limit: each retry of one stale customer's name
 *   paused and drained the whole account's bucket, holding every other customer's order back.
 * - A `Retry-After` far away (years; the header's digits beyond a double's range parse to Infinity)
 *   paused the bucket for the whole fleet for that long, or — Infinity — threw a RangeError from the
 *   refusal's handling in place of the CA's problem.
 * - Let's Encrypt's refusal for failed authorizations (5 an hour per identifier and account), read as
 *   the name set's, emptied the name set's bucket (5 a week): past its Retry-After one order went, and
 *   the next waited 1.4 days for tokens the CA had never taken.
 */
import { describe, expect, it } from "vitest";
import { AcmeProblem } from "../../src/acme/problem.ts";
import { parseRetryAfter } from "../../src/acme/retry.ts";
import type { CaLimits } from "../../src/budget/ca-limits.ts";
import { BudgetSpentError } from "../../src/budget/fair-queue.ts";
import { silentLogger } from "../../src/logger.ts";
import { CaBudgets } from "../../src/manager/ca-budgets.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CA = "https://ca.refusal-drift.test/dir";
const ACCOUNT = "https://ca.refusal-drift.test/acct/1";
/** Let's Encrypt's production limits (https://letsencrypt.org/docs/rate-limits/). */
const limits: CaLimits = {
  newOrdersPerAccount: { count: 300, periodMs: 3 * HOUR },
  certificatesPerRegisteredDomain: { count: 50, periodMs: 7 * DAY },
  certificatesPerNameSet: { count: 5, periodMs: 7 * DAY },
  replacementsExempt: true,
};

function setup() {
  let now = Date.UTC(2026, 11, 6, 12);
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  // The queue's waits pass in virtual time at once. A wait bound of a second: an order the budget
  // would hold back longer is refused at once with BudgetSpentError.
  const sleep = async (ms: number) => void clock.advance(ms);
  const budgets = new CaBudgets({ storage: new MemoryStorage(), primary: CA, caLimits: limits, now: clock.now, sleep, logger: silentLogger, onQueued: () => undefined, maxWaitMs: 1000 });
  const request = (name: string) => ({ id: name, account: ACCOUNT, names: [name], nameSetId: name });
  return { budgets, clock, request };
}

const rateLimited = (detail: string, retryAfterMs?: number) =>
  new AcmeProblem({ type: "urn:ietf:params:acme:error:rateLimited", status: 429, detail }, { status: 429, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

/** Whether an order for `name` is let through the budget now (false: held back beyond the wait bound). */
async function admitted(budgets: CaBudgets, request: { id: string; account: string; names: string[]; nameSetId: string }): Promise<boolean> {
  try {
    await budgets.admit(CA, request);
    return true;
  } catch (err) {
    if (err instanceof BudgetSpentError) return false;
    throw err;
  }
}

describe("a CA's refusal pauses only what it speaks of", () => {
  it("Let's Encrypt's paused-identifier refusal does not pause or drain the account's orders for other customers", async () => {
    const { budgets, request } = setup();
    const stale = request("old.gone-customer.example");
    // Boulder's wording (wfe2: probs.Paused, rateLimited / 429, no Retry-After).
    const refusal = rateLimited(
      "Your account is temporarily prevented from requesting certificates for old.gone-customer.example and possibly others. Please visit: https://portal.letsencrypt.org/sfe/v1/unpause?jwt=x.y.z",
    );
    // The manager retries the stale name now and then; each retry meets the same refusal.
    for (let i = 0; i < 3; i++) await budgets.refused(CA, stale, refusal);
    // Other customers' first orders still go at once, a burst of them as the account's bucket allows.
    let through = 0;
    for (let i = 0; i < 20; i++) if (await admitted(budgets, request(`www.customer${i}.example`))) through++;
    expect(through).toBe(20);
  });

  it.each([
    ["years away", 1e15],
    ["beyond a double (Infinity)", parseRetryAfter("9".repeat(400))!],
  ])("a Retry-After %s pauses the account's bucket for at most a week, and is not lost", async (_label, retryAfterMs) => {
    const { budgets, clock, request } = setup();
    await budgets.refused(CA, request("a.example"), rateLimited("too many new orders (300) from this account in the last 3h0m0s", retryAfterMs));
    // Right after the refusal the CA's bucket is empty: nothing goes (old code, Infinity: the record was erased and the order went).
    expect(await admitted(budgets, request("b.example"))).toBe(false);
    // A week on (the longest window of a CA's published limits) one order goes to probe the CA (old code,
    // years: paused for 31,000 years).
    clock.advance(7 * DAY - 60_000);
    expect(await admitted(budgets, request("c.example"))).toBe(false);
    clock.advance(61_000);
    expect(await admitted(budgets, request("c.example"))).toBe(true);
  });
});

describe("a refusal for failed authorizations does not empty the name set's bucket", () => {
  it("once its Retry-After has passed, the name's orders go as the name set's limit allows (old code: one, then 1.4 days)", async () => {
    const { budgets, clock, request } = setup();
    const req = request("www.dns-fixed.example");
    // Let's Encrypt's Authorization Failures per Identifier per Account (5 an hour, one back every 12
    // minutes): a different limit from the name set's 5 a week, which no certificate has spent.
    await budgets.refused(CA, req, rateLimited('too many failed authorizations (5) for "www.dns-fixed.example" in the last 1h0m0s', 12 * 60_000));
    expect(await admitted(budgets, req)).toBe(false);
    clock.advance(12 * 60_000 + 1000);
    // The DNS is fixed; the first order fails once more on a stale resolver, the manager asks again.
    expect(await admitted(budgets, req)).toBe(true);
    expect(await admitted(budgets, req)).toBe(true);
  });
});

describe("what held (guards)", () => {
  it("a registered domain's refusal pauses that domain only, for its Retry-After given as an HTTP-date (RFC 9110 §10.2.3)", async () => {
    const { budgets, clock, request } = setup();
    const retryAfterMs = parseRetryAfter(new Date(clock.now() + 3 * HOUR).toUTCString(), clock.now())!;
    expect(retryAfterMs).toBe(3 * HOUR);
    await budgets.refused(CA, request("www.big.example"), rateLimited('too many certificates (50) already issued for "big.example" in the last 168h0m0s', retryAfterMs));
    expect(await admitted(budgets, request("shop.small.example"))).toBe(true);
    expect(await admitted(budgets, request("api.big.example"))).toBe(false);
    clock.advance(3 * HOUR + 1000);
    expect(await admitted(budgets, request("api.big.example"))).toBe(true);
  });

  it("a Retry-After in the past pauses for the least pause (1 s), not never nor for long", async () => {
    const { budgets, clock, request } = setup();
    const retryAfterMs = parseRetryAfter(new Date(clock.now() - HOUR).toUTCString(), clock.now())!;
    expect(retryAfterMs).toBe(0);
    await budgets.refused(CA, request("a.example"), rateLimited("too many new orders (300) from this account in the last 3h0m0s", retryAfterMs));
    // The next order waits out the second (in the queue, on the virtual clock), and goes.
    const refusedAt = clock.now();
    expect(await admitted(budgets, request("b.example"))).toBe(true);
    expect(clock.now() - refusedAt).toBeGreaterThanOrEqual(1000);
    expect(clock.now() - refusedAt).toBeLessThan(2000);
  });
});
