/**
 * The rules of the CAA answers kept across orders (issue 26), on a virtual clock: TTL clamped to [min,
 * max], negative answers by their SOA (RFC 2308 §5) or not at all, failures never kept, a bounded
 * number of names. The manager using it against Pebble and a DoH endpoint: test/preflight/caa.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { CaaLookup } from "../../src/dns/doh-query.ts";
import { CaaCache } from "../../src/preflight/caa-cache.ts";

describe("CaaCache", () => {
  const found = (ttl: number | undefined): CaaLookup => ({ rcode: 0, records: [{ flags: 0, tag: "issue", value: "ca.example" }], ...(ttl === undefined ? {} : { ttl }) });
  const setup = (options: { minTtlMs?: number; maxTtlMs?: number; maxEntries?: number } = {}) => {
    let now = 1_000_000;
    const asked: string[] = [];
    const cache = new CaaCache({ ...options, now: () => now });
    const ask = (owner: string, answer: CaaLookup | Error, fresh = false) =>
      cache.lookup(owner, async () => {
        asked.push(owner);
        if (answer instanceof Error) throw answer;
        return answer;
      }, { fresh });
    return { cache, asked, ask, advance: (ms: number) => (now += ms) };
  };

  it("keeps an answer for its TTL, clamped to [min, max]", async () => {
    const { asked, ask, advance } = setup({ minTtlMs: 60_000, maxTtlMs: 3_600_000 });
    await ask("ttl300.example", found(300));
    await ask("ttl0.example", found(0));
    await ask("ttl1d.example", found(86_400));
    advance(59_000);
    for (const o of ["ttl300.example", "ttl0.example", "ttl1d.example"]) await ask(o, found(300));
    expect(asked).toEqual(["ttl300.example", "ttl0.example", "ttl1d.example"]);
    advance(2_000); // 61 s: past the one-minute floor
    await ask("ttl0.example", found(0));
    await ask("ttl300.example", found(300));
    expect(asked.slice(3)).toEqual(["ttl0.example"]);
    advance(300_000);
    await ask("ttl300.example", found(300));
    await ask("ttl1d.example", found(86_400));
    expect(asked.slice(4)).toEqual(["ttl300.example"]);
    advance(3_600_000); // past the one-hour cap, though its TTL was a day
    await ask("ttl1d.example", found(86_400));
    expect(asked.slice(5)).toEqual(["ttl1d.example"]);
  });

  it("keeps negative answers for their SOA's TTL, not without one; never keeps failures", async () => {
    const { asked, ask } = setup();
    await ask("nodata.example", { rcode: 0, records: [], ttl: 300 });
    await ask("nxdomain.example", { rcode: 3, records: [], ttl: 300 });
    await ask("no-soa.example", { rcode: 0, records: [] });
    await ask("servfail.example", { rcode: 2, records: [], ttl: 300 });
    await ask("down.example", new Error("resolver down")).catch(() => undefined);
    for (const o of ["nodata.example", "nxdomain.example", "no-soa.example", "servfail.example"]) await ask(o, { rcode: 0, records: [], ttl: 300 });
    await ask("down.example", found(300));
    expect(asked).toEqual(["nodata.example", "nxdomain.example", "no-soa.example", "servfail.example", "down.example", "no-soa.example", "servfail.example", "down.example"]);
  });

  it("shares one query among concurrent lookups; `fresh` asks again and replaces the answer", async () => {
    const { asked, ask } = setup();
    const all = await Promise.all([ask("shared.example", found(300)), ask("shared.example", found(300)), ask("shared.example", found(300))]);
    expect(asked).toEqual(["shared.example"]);
    expect(new Set(all).size).toBe(1);
    const renewed = await ask("shared.example", found(600), true);
    expect(renewed.ttl).toBe(600);
    expect((await ask("shared.example", found(900))).ttl).toBe(600);
    expect(asked).toEqual(["shared.example", "shared.example"]);
  });

  it("holds at most maxEntries names, dropping the least recently used", async () => {
    const { cache, asked, ask } = setup({ maxEntries: 3 });
    for (const o of ["a", "b", "c"]) await ask(o, found(300));
    await ask("a", found(300)); // a is now the most recent
    await ask("d", found(300)); // drops b
    expect(cache.size).toBe(3);
    await ask("a", found(300));
    await ask("c", found(300));
    await ask("b", found(300));
    expect(asked).toEqual(["a", "b", "c", "d", "b"]);
    expect(cache.stats).toEqual({ hits: 3, misses: 5 });
  });
});
