import { describe, expect, it } from "vitest";
import { search } from "../support/interleaving-search.ts";

// Seeds 501–1000 of the interleaving search (test/support/interleaving-search.ts), in a worker of its own.
describe("interleaving search, second half", () => {
  it("keeps every invariant over schedules 501–1000", async () => {
    expect(await search(501, 500)).toEqual([]);
  }, 900_000);
});
