import { describe, expect, it } from "vitest";
import { AcmeProblem, InvalidIdentifierError, isRateLimited, tlsAlpn01ServerName, toIdentifier, toIdentifiers, dns01RecordName, dns01TxtValue, http01Path } from "../../src/index.ts";
import { NoncePool } from "../../src/acme/nonce-pool.ts";
import { parseRetryAfter } from "../../src/acme/retry.ts";
import { firstPollDelay } from "../../src/acme/issuance/poll-timing.ts";
import { parseLinks } from "../../src/acme/http-response.ts";
import { aboutToFinalize, aboutToOrder, runStep } from "../../src/acme/issuance/context.ts";
import { EdgecertError } from "../../src/errors.ts";

describe("identifiers", () => {
  it("classifies and normalises names and IP addresses", () => {
    expect(toIdentifier("Example.COM.")).toEqual({ type: "dns", value: "example.com" });
    expect(toIdentifier("*.Example.com")).toEqual({ type: "dns", value: "*.example.com" });
    expect(toIdentifier("bücher.de")).toEqual({ type: "dns", value: "xn--bcher-kva.de" });
    expect(toIdentifier("192.0.2.1")).toEqual({ type: "ip", value: "192.0.2.1" });
    expect(toIdentifier("2001:DB8:0:0::1")).toEqual({ type: "ip", value: "2001:db8::1" });
    expect(toIdentifier("[::1]")).toEqual({ type: "ip", value: "::1" });
    expect(toIdentifiers(["a.example", "A.example", "192.0.2.1"])).toEqual([
      { type: "dns", value: "a.example" },
      { type: "ip", value: "192.0.2.1" },
    ]);
  });

  it.each(["", "localhost", "a..example", "-a.example", "a-.example", "a_b.example", "*.*.example", "a.*.example", "*example.com",
    "1.2.3.4.5", "999.1.1.1.example.123", `${"a".repeat(64)}.example`, `${"a.".repeat(127)}com`])(
    "rejects %j with an error naming it", (bad) => {
      try {
        toIdentifier(bad);
        throw new Error("accepted");
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidIdentifierError);
        expect((err as InvalidIdentifierError).identifier).toBe(bad);
      }
    });

  it("challenge helper names", async () => {
    expect(http01Path("tok")).toBe("/.well-known/acme-challenge/tok");
    expect(dns01RecordName("*.example.com")).toBe("_acme-challenge.example.com");
    // RFC 8555 §8.4: base64url(SHA-256(key authorization)), 43 characters.
    expect(await dns01TxtValue("token.thumb")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tlsAlpn01ServerName({ type: "ip", value: "192.0.2.5" })).toBe("5.2.0.192.in-addr.arpa");
    expect(tlsAlpn01ServerName({ type: "ip", value: "2001:db8::1" })).toBe(
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    );
  });
});

describe("problems", () => {
  it("carries type, detail, status, subproblems and Retry-After", () => {
    const p = new AcmeProblem(
      { type: "urn:ietf:params:acme:error:rateLimited", detail: "too many", subproblems: [{ type: "x", identifier: { type: "dns", value: "a.example" } }, null as never] },
      { status: 429, retryAfterMs: 5000 },
    );
    expect(p.kind).toBe("rateLimited");
    expect(p.code).toBe("acme_problem");
    expect(isRateLimited(p)).toBe(true);
    expect(isRateLimited(new Error("x"))).toBe(false);
    expect(p.subproblems).toEqual([{ type: "x", identifier: { type: "dns", value: "a.example" } }]);
    expect(p.retryAfterMs).toBe(5000);
    // Garbage documents still give a usable error.
    const g = new AcmeProblem({ type: 42 as never, detail: {} as never });
    expect(g.type).toBe("about:blank");
    expect(typeof g.message).toBe("string");
  });

  it("parses Retry-After as seconds or HTTP-date, ignoring garbage", () => {
    expect(parseRetryAfter("120")).toBe(120_000);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("Wed, 21 Oct 2015 07:27:00 GMT"))).toBe(60_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("parses Link headers with several relations", () => {
    const h = new Headers({ link: '<https://ca/cert/1/1>;rel="alternate", </dir>; rel="index", <https://ca/cert/1/2>;rel=alternate' });
    expect(parseLinks(h, "https://ca/cert/1")).toEqual([
      { rel: "alternate", url: "https://ca/cert/1/1" },
      { rel: "index", url: "https://ca/dir" },
      { rel: "alternate", url: "https://ca/cert/1/2" },
    ]);
  });
});

describe("nonce pool", () => {
  it("fetches once, then serves concurrent callers from the nonces responses bring back", async () => {
    let fetched = 0;
    const pool = new NoncePool(async () => `fetched-${++fetched}`);
    const first = await pool.acquire();
    const waiting = [pool.acquire(), pool.acquire()];
    pool.release("n1");
    expect(await waiting[0]).toBe("n1");
    pool.release("n2");
    expect(await waiting[1]).toBe("n2");
    pool.release("n3");
    expect(first).toBe("fetched-1");
    expect(fetched).toBe(1);
    expect(await pool.acquire()).toBe("n3");
  });

  it("lets a waiter fetch its own nonce when nothing in flight will bring one", async () => {
    let fetched = 0;
    const pool = new NoncePool(async () => `fetched-${++fetched}`);
    await pool.acquire();
    const waiter = pool.acquire();
    pool.release(null);
    expect(await waiter).toBe("fetched-2");
  });

  it("reserve tops up what circulates to `count`, hands fetched nonces to waiters, and drops failed fetches", async () => {
    let fetched = 0;
    const pool = new NoncePool(async () => `own-${++fetched}`);
    const held = await pool.acquire(); // one in flight
    expect(held).toBe("own-1");
    let extra = 0;
    const failing = new Set([2]);
    const { started, settled } = pool.reserve(4, async () => {
      const n = ++extra;
      if (failing.has(n)) throw new Error("429");
      return `extra-${n}`;
    });
    // 1 in flight, so 3 more: at most count − 1 beyond what circulates.
    expect(started).toBe(3);
    expect(pool.circulating).toBe(4);
    const waiting = pool.acquire();
    await settled;
    expect(await waiting).toMatch(/^extra-/);
    // Two of three extra fetches delivered; the failed one is simply gone.
    expect(pool.circulating).toBe(3);
    expect(pool.reserve(2, async () => "never").started).toBe(0);
    expect(fetched).toBe(1);
  });

  it("a waiter whose only hope was a failed reserved fetch fetches its own", async () => {
    let fetched = 0;
    const pool = new NoncePool(async () => `own-${++fetched}`);
    pool.reserve(1, async () => {
      throw new Error("reset");
    });
    expect(await pool.acquire()).toBe("own-1");
  });

  it("a waiter that is aborted leaves the queue", async () => {
    const pool = new NoncePool(async () => "f");
    await pool.acquire();
    const ac = new AbortController();
    const waiter = pool.acquire(ac.signal);
    ac.abort();
    await expect(waiter).rejects.toMatchObject({ code: "aborted" });
    pool.release("n");
    expect(await pool.acquire()).toBe("n");
  });

  it("waiters sharing a signal: aborting it rejects all of them and only them; those served before it are unaffected", async () => {
    const pool = new NoncePool(async () => "f");
    await pool.acquire();
    const shared = new AbortController();
    const other = new AbortController();
    const first = pool.acquire(shared.signal);
    const sharing = Array.from({ length: 20 }, () => pool.acquire(shared.signal));
    const apart = pool.acquire(other.signal);
    pool.release("n1"); // serves `first`
    expect(await first).toBe("n1");
    shared.abort();
    for (const w of sharing) await expect(w).rejects.toMatchObject({ code: "aborted" });
    pool.release("n2");
    expect(await apart).toBe("n2");
  });
});

describe("issuance hooks", () => {
  it("beforeFinalize runs before each order's first finalize: once per order, again for a new order after a retry", async () => {
    const seen: number[] = [];
    let calls = 0;
    const ctx = { beforeFinalize: async () => void seen.push(++calls), finalizing: new Set<string>() } as unknown as Parameters<typeof aboutToFinalize>[0];
    await aboutToFinalize(ctx, "https://ca.test/order/1");
    await aboutToFinalize(ctx, "https://ca.test/order/1");
    // The first order went invalid after an early finalize; the retry's order is finalized later: its
    // own finalize is announced (the budget counts the per-issuance limits from the issuance that happens).
    await aboutToFinalize(ctx, "https://ca.test/order/2");
    expect(seen).toEqual([1, 2]);
  });

  it("an error a caller's hook throws reaches the caller as thrown, not wrapped in an IssuanceError", async () => {
    const refusal = new EdgecertError("budget_spent", "spent");
    const ctx = { signal: new AbortController().signal, beforeNewOrder: async () => { throw refusal; } } as unknown as Parameters<typeof aboutToOrder>[0];
    const err = await runStep(ctx, "new-order", () => aboutToOrder(ctx, { attempt: 2, replaces: false })).catch((e: unknown) => e);
    expect(err).toBe(refusal);
  });
});

// The wait before the first poll after accepting challenges or finalizing, as numbers: the e2e budget test
// (test/e2e/obtain.test.ts) sets aside polls that found Pebble still at work, a matter of the machine's
// load, so that the client waits at all, and how long, is held here.
describe("first poll delay", () => {
  const base = { serverMs: 0, roundTripMs: undefined, far: false, slowestCallMs: 0 };
  it("believes the CA's Retry-After (RFC 8555 §7.4), near or far", () => {
    expect(firstPollDelay({ ...base, retryAfterMs: 3_000 })).toBe(3_000);
    expect(firstPollDelay({ ...base, far: true, retryAfterMs: 0 })).toBe(0);
  });
  it("near the CA waits four times the slowest call, at least 25 ms and at most 1 s", () => {
    expect(firstPollDelay({ ...base, slowestCallMs: 40 })).toBe(160);
    expect(firstPollDelay({ ...base, slowestCallMs: 1 })).toBe(25);
    expect(firstPollDelay({ ...base, slowestCallMs: 900 })).toBe(1_000);
  });
  it("far from the CA sends the poll one round trip before the CA's work (four times its own time, at least 50 ms) should end", () => {
    expect(firstPollDelay({ ...base, far: true, serverMs: 100, roundTripMs: 80 })).toBe(320);
    expect(firstPollDelay({ ...base, far: true, serverMs: 5, roundTripMs: 20 })).toBe(30);
    expect(firstPollDelay({ ...base, far: true, serverMs: 5, roundTripMs: 200 })).toBe(0);
    expect(firstPollDelay({ ...base, far: true, serverMs: 2_000, roundTripMs: 0 })).toBe(1_000);
  });
});
