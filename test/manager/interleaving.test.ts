import { describe, expect, it } from "vitest";
import { schedule, search } from "../support/interleaving-search.ts";

// The interleaving search of issue 11 (see test/support/interleaving-search.ts for what it does and
// checks), seeds 1–250 in npm test; interleaving-more.test.ts runs 251–500 in a second worker.
// SEARCH_SEEDS=<n> [SEARCH_FIRST_SEED=<s>] runs a deeper search here (SEARCH_SEEDS=1000: the 1–1000
// npm test ran before issue 25, 2 minutes of its 5 on 2 cores); SEARCH_SEED=<seed> replays one and prints its trace.
describe("interleaving search (seeded scheduler, stand-in CA)", () => {
  it("keeps every invariant over schedules 1–250 of 2–3 managers with crashes, lapsed leases and a forgetful CA", async () => {
    const replay = process.env.SEARCH_SEED === undefined ? undefined : Number(process.env.SEARCH_SEED);
    const failures = await search(Number(process.env.SEARCH_FIRST_SEED ?? 1), Number(process.env.SEARCH_SEEDS ?? 250), replay);
    expect(failures).toEqual([]);
  }, 900_000);

  it("replays a seed exactly, alone or beside other schedules", async () => {
    const alone = await schedule(42);
    const [beside] = await Promise.all([schedule(42), schedule(43), schedule(44)]);
    expect(beside!.trace).toEqual(alone.trace);
    expect(beside!.checks).toBe(alone.checks);
    expect(alone.trace.length).toBeGreaterThan(50);
  }, 120_000);
});
