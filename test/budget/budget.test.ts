/**
 * The fleet-wide CA budget's parts: registered domains by the Public Suffix List, limits as text, the
 * reading of a CA's refusal, and the budget's all-or-nothing spend searched over seeded interleavings
 * of processes sharing one storage.
 */
import { describe, expect, it } from "vitest";
import { AcmeProblem } from "../../src/acme/problem.ts";
import { caLimitsFor, LETS_ENCRYPT_LIMITS, parseCaLimits } from "../../src/budget/ca-limits.ts";
import { FleetBudget } from "../../src/budget/fleet-budget.ts";
import { rateLimitRefusalOf } from "../../src/budget/rate-limit-refusal.ts";
import { registeredDomain } from "../../src/budget/registered-domain.ts";
import { LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING } from "../../src/acme/constants.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { seededRandom } from "../support/seeded-random.ts";

describe("registeredDomain", () => {
  it.each([
    ["www.example.com", "example.com"],
    ["*.example.com", "example.com"],
    ["new.blog.example.co.uk", "example.co.uk"],
    ["example.co.uk", "example.co.uk"],
    ["co.uk", "co.uk"],
    ["a.b.ck", "a.b.ck"], // *.ck: every label under ck is a public suffix
    ["x.www.ck", "www.ck"], // !www.ck: the exception is registered itself
    ["shop.city.kawasaki.jp", "city.kawasaki.jp"],
    ["a.xn--55qx5d.cn", "a.xn--55qx5d.cn"], // 公司.cn, stored as A-labels
    // The list's private section, which Let's Encrypt counts by too (publicsuffix-go's default options):
    ["www.u1.github.io", "u1.github.io"], // github.io
    ["api.x.workers.dev", "x.workers.dev"], // workers.dev
    ["a.b.compute.amazonaws.com", "a.b.compute.amazonaws.com"], // *.compute.amazonaws.com, a private wildcard
    ["www.bucket.s3.amazonaws.com", "bucket.s3.amazonaws.com"], // s3.amazonaws.com
    ["www.amazonaws.com", "amazonaws.com"], // no private rule for amazonaws.com itself: registered under com
    ["EXAMPLE.COM.", "example.com"],
    ["192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::9", "2001:db8:1:2::/64"],
  ])("%s → %s", (name, expected) => {
    expect(registeredDomain(name)).toBe(expected);
  });

  it("takes a platform's own suffix", () => {
    expect(registeredDomain("shop.alice.myplatform.app", new Set(["myplatform.app"]))).toBe("alice.myplatform.app");
    expect(registeredDomain("shop.alice.myplatform.app")).toBe("myplatform.app");
  });
});

describe("CA limits", () => {
  it("knows Let's Encrypt's published limits and no others", () => {
    expect(caLimitsFor(LETS_ENCRYPT_PRODUCTION)).toBe(LETS_ENCRYPT_LIMITS);
    expect(caLimitsFor(LETS_ENCRYPT_STAGING)?.newOrdersPerAccount?.count).toBe(1500);
    expect(caLimitsFor("https://127.0.0.1:14000/dir")).toBeUndefined();
    expect(LETS_ENCRYPT_LIMITS.newOrdersPerAccount).toEqual({ count: 300, periodMs: 3 * 3_600_000 });
  });

  it("reads limits written as text and names a bad part", () => {
    expect(parseCaLimits("orders=300/3h, domain=50/7d, nameset=5/7d, replaces=exempt, renewals=exempt, suffix=myplatform.app")).toEqual({
      ...LETS_ENCRYPT_LIMITS,
      publicSuffixes: ["myplatform.app"],
    });
    expect(parseCaLimits("none")).toEqual({});
    for (const bad of ["orders=0/3h", "orders=3", "domains=5/7d", "orders=5/7w", "replaces=maybe"]) {
      let error: unknown;
      try {
        parseCaLimits(bad);
      } catch (err) {
        error = err;
      }
      expect(isEdgecertError(error, "invalid_input") && (error as Error).message.includes(bad.split(",")[0]!)).toBe(true);
    }
  });
});

describe("rateLimitRefusalOf", () => {
  const problem = (detail: string, retryAfterMs?: number) =>
    new AcmeProblem({ type: "urn:ietf:params:acme:error:rateLimited", status: 429, detail }, { status: 429, ...(retryAfterMs ? { retryAfterMs } : {}) });
  it.each([
    ["too many new orders (300) from this account in the last 3h0m0s, retry after 2026-12-06 12:00:00 UTC", { kind: "orders" }],
    ['too many certificates (50) already issued for "example.com" in the last 168h0m0s, retry after …', { kind: "domain", domain: "example.com" }],
    ["too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s", { kind: "nameset" }],
    ['too many failed authorizations (5) for "www.example.com" in the last 1h0m0s', { kind: "nameset", pauseOnly: true }],
    ["slow down", { kind: "orders" }],
  ])("%s", (detail, expected) => {
    expect(rateLimitRefusalOf(problem(detail, 60_000))).toEqual({ ...expected, retryAfterMs: 60_000 });
  });
  it("is undefined for other errors", () => {
    expect(rateLimitRefusalOf(new AcmeProblem({ type: "urn:ietf:params:acme:error:malformed", status: 400, detail: "too many new orders" }, { status: 400 }))).toBeUndefined();
    expect(rateLimitRefusalOf(new Error("x"))).toBeUndefined();
  });
});

/** A storage whose every call first yields a seeded number of turns, so processes interleave differently per seed. */
function interleaved(inner: Storage, random: () => number): Storage {
  const yieldSome = async () => {
    for (let i = Math.floor(random() * 4); i > 0; i--) await Promise.resolve();
  };
  return {
    get: async (k) => (await yieldSome(), inner.get(k)),
    getEntry: async (k) => (await yieldSome(), inner.getEntry(k)),
    put: async (k, v, w) => (await yieldSome(), inner.put(k, v, w)),
    delete: async (k, w) => (await yieldSome(), inner.delete(k, w)),
    list: async (p, o) => (await yieldSome(), inner.list(p, o)),
    lock: (n, o) => inner.lock(n, o),
  };
}

describe("FleetBudget", () => {
  const limits = { newOrdersPerAccount: { count: 5, periodMs: 60_000 }, certificatesPerRegisteredDomain: { count: 3, periodMs: 60_000 } };

  it("spends all or nothing: an empty domain bucket leaves the account's tokens alone", async () => {
    const storage = new MemoryStorage();
    const budget = new FleetBudget({ storage, limits, ca: "ca", now: () => 0, sendMarginMs: 0 });
    const req = (name: string) => ({ account: "https://ca/acct/1", names: [name], nameSetId: name });
    for (let i = 0; i < 3; i++) expect((await budget.trySpend(req(`n${i}.a.example`))).granted).toBe(true);
    const refused = await budget.trySpend(req("n3.a.example"));
    expect(refused.granted).toBe(false);
    expect(!refused.granted && refused.blocked.map((b) => b.bucket.kind)).toEqual(["domain"]);
    const [orders] = (await budget.view(req("x.b.example"))).filter((v) => v.kind === "orders");
    expect(orders?.available).toBe(2);
    expect((await budget.trySpend(req("n0.b.example"))).granted).toBe(true);
  });

  it("counts names under a private-section suffix by their own registered domain, as Let's Encrypt does", async () => {
    // Let's Encrypt's rate limits count by the whole Public Suffix List (Boulder: publicsuffix-go's
    // publicsuffix.Domain, private section included): u1.github.io and u2.github.io are two registered
    // domains, each with its own 50 certificates a week. Counted by the ICANN section alone they were one
    // bucket, github.io, and the second was held back although the CA would issue it.
    const budget = new FleetBudget({ storage: new MemoryStorage(), limits: { certificatesPerRegisteredDomain: { count: 1, periodMs: 60_000 } }, ca: "ca", now: () => 0, sendMarginMs: 0 });
    const req = (name: string) => ({ account: "https://ca/acct/1", names: [name], nameSetId: name });
    const subjects = async (name: string) => (await budget.view(req(name))).filter((v) => v.kind === "domain").map((v) => v.subject);
    for (const [first, second, domains] of [
      ["www.u1.github.io", "u2.github.io", ["u1.github.io", "u2.github.io"]],
      ["x.workers.dev", "api.y.workers.dev", ["x.workers.dev", "y.workers.dev"]],
    ] as const) {
      expect([...(await subjects(first)), ...(await subjects(second))]).toEqual(domains);
      expect((await budget.trySpend(req(first))).granted).toBe(true);
      expect((await budget.trySpend(req(second))).granted).toBe(true);
      // The same registered domain again: its one token is spent.
      const again = await budget.trySpend(req(`again.${domains[0]}`));
      expect(!again.granted && again.blocked.map((b) => b.bucket.subject)).toEqual([domains[0]]);
    }
  });

  it("a pause stops every process until it ends, and only moves later", async () => {
    const storage = new MemoryStorage();
    let now = 1_000;
    const [p1, p2] = [0, 1].map(() => new FleetBudget({ storage, limits, ca: "ca", now: () => now, sendMarginMs: 0 }));
    const req = { account: "https://ca/acct/1", names: ["a.example"], nameSetId: "a" };
    const ref = (await p1!.bucket("orders", req.account))!;
    await p1!.pause(ref, 31_000);
    await p1!.pause(ref, 11_000);
    const refused = await p2!.trySpend(req);
    expect(refused).toMatchObject({ granted: false, retryAt: 31_000 });
    now = 31_000;
    expect((await p2!.trySpend(req)).granted).toBe(true);
  });

  it("a bucket written under other limits (CA_LIMITS changed) keeps the tokens it owes, not the time", async () => {
    // Old code read the stored time as is: the one token of 1 an hour spent read under 100 an hour as
    // all 100 spent (the next order waited 36 s; through the Worker, tests/workers/limits-change.test.ts
    // waited it out after every redeploy), and lowered to 1 an hour 50 spent of 100 read as owing 30 min.
    const storage = new MemoryStorage();
    let now = 1_000_000;
    const req = (name: string) => ({ account: "https://ca/acct/1", names: [name], nameSetId: name });
    const perHour = (count: number) => new FleetBudget({ storage, limits: { newOrdersPerAccount: { count, periodMs: 3_600_000 } }, ca: "ca", now: () => now, sendMarginMs: 0 });
    expect((await perHour(1).trySpend(req("a.example"))).granted).toBe(true);
    expect(await perHour(1).trySpend(req("b.example"))).toMatchObject({ granted: false, retryAt: 1_000_000 + 3_600_000 });
    now += 10_000;
    const raised = perHour(100);
    expect((await raised.view(req("b.example")))[0]!.available).toBe(99);
    for (let i = 0; i < 99; i++) expect((await raised.trySpend(req(`n${i}.example`))).granted, `order ${i}`).toBe(true);
    expect((await raised.trySpend(req("c.example"))).granted).toBe(false);
    // Lowered again: 100 spent in the last hour owe the whole of the new limit's period, no more.
    const lowered = perHour(2);
    expect((await lowered.view(req("c.example")))[0]!.available).toBe(0);
    expect(await lowered.trySpend(req("c.example"))).toMatchObject({ granted: false, retryAt: now + 1_800_000 });
  });

  it("never grants more than a bucket holds, whatever the interleaving of processes (seeded search)", async () => {
    const seeds = Number(process.env.EDGECERT_BUDGET_SEEDS ?? 200);
    const first = Number(process.env.EDGECERT_BUDGET_SEED ?? 1);
    let grants = 0;
    let conflicts = 0;
    for (let seed = first; seed < first + seeds; seed++) {
      const random = seededRandom(seed);
      const shared = new MemoryStorage();
      const processes = Array.from({ length: 3 }, () => new FleetBudget({ storage: interleaved(shared, random), limits, ca: "ca", now: () => 0, sendMarginMs: 0 }));
      const asks = Array.from({ length: 12 }, (_, i) => ({ account: "https://ca/acct/1", names: [`n${i}.${i % 2 ? "a" : "b"}.example`], nameSetId: `s${i}` }));
      const results = await Promise.all(
        asks.map((ask, i) =>
          processes[i % 3]!.trySpend(ask).catch((err: unknown) => {
            if (isEdgecertError(err, "conflict")) conflicts++;
            else throw err;
            return { granted: false as const };
          }),
        ),
      );
      const granted = asks.filter((_, i) => results[i]!.granted);
      grants += granted.length;
      const perDomain = (d: string) => granted.filter((a) => a.names[0]!.endsWith(`.${d}.example`)).length;
      const context = `seed ${seed} (replay: EDGECERT_BUDGET_SEED=${seed} EDGECERT_BUDGET_SEEDS=1)`;
      expect(granted.length, context).toBeLessThanOrEqual(5);
      expect(perDomain("a"), context).toBeLessThanOrEqual(3);
      expect(perDomain("b"), context).toBeLessThanOrEqual(3);
      // And what was granted is what the buckets show spent.
      const views = await processes[0]!.view({ account: "https://ca/acct/1", names: ["x.a.example", "x.b.example"], nameSetId: "x" });
      expect(views.find((v) => v.kind === "orders")!.available, context).toBe(5 - granted.length);
    }
    console.log(`budget search: ${seeds} seeds from ${first}, 3 processes x 12 asks each, ${grants} grants, ${conflicts} gave up on contention, 0 over-grants`);
  });
});
