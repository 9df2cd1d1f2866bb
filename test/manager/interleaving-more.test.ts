import { describe, expect, it } from "vitest";
import { search } from "../support/interleaving-search.ts";

// Seeds 251–500 of the interleaving search (test/support/interleaving-search.ts), in a worker of its own;
// deeper searches: SEARCH_SEEDS in interleaving.test.ts.
describe("interleaving search, second half", () => {
  it("keeps every invariant over schedules 251–500", async () => {
    expect(await search(251, 250)).toEqual([]);
  }, 900_000);
});
