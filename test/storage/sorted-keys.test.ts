/**
 * MemoryStorage's key order (src/storage/sorted-keys.ts): seeded adds and removals of keys that share
 * prefixes, checked after each step against a sort of every key, past several chunk splits.
 */
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../src/storage/list-page.ts";
import { SortedKeys } from "../../src/storage/sorted-keys.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { seededRandom } from "../support/seeded-random.ts";

describe("SortedKeys", () => {
  it("lists from any key in key order, as a full sort does, through adds, removals and chunk splits (seeded)", () => {
    const random = seededRandom(26);
    const keys = new SortedKeys();
    const model = new Set<string>();
    const key = () => `${"abc"[Math.floor(random() * 3)]}/${Math.floor(random() * 3000).toString(36)}${random() < 0.1 ? "/x" : ""}`;
    let checks = 0;
    for (let step = 0; step < 20_000; step++) {
      const k = key();
      if (random() < 0.7) {
        keys.add(k);
        model.add(k);
      } else {
        keys.delete(k);
        model.delete(k);
      }
      if (step % 500 === 0 || step === 19_999) {
        const sorted = [...model].sort(compareKeys);
        const from = key();
        const expected = sorted.filter((x) => compareKeys(x, from) >= 0).slice(0, 50);
        const got: string[] = [];
        for (const x of keys.from(from)) if (got.push(x) >= 50) break;
        expect(got).toEqual(expected);
        expect([...keys.from("")]).toEqual(sorted);
        checks++;
      }
    }
    console.log(`sorted keys: 20,000 seeded steps, ${model.size} keys at the end, ${checks} checks against a full sort`);
  });

  it("MemoryStorage pages by prefix and cursor from the middle of the keys", async () => {
    const storage = new MemoryStorage();
    for (let i = 0; i < 3000; i++) await storage.put(`p/${String(i).padStart(4, "0")}`, "v");
    await storage.put("o/1", "v");
    await storage.put("q/1", "v");
    const first = await storage.list("p/", { limit: 1000 });
    expect(first.keys).toHaveLength(1000);
    const second = await storage.list("p/", { limit: 1000, cursor: first.cursor! });
    expect(second.keys[0]).toBe("p/1000");
    const third = await storage.list("p/", { limit: 1000, cursor: second.cursor! });
    expect(third.keys.at(-1)).toBe("p/2999");
    expect(third.cursor).toBeUndefined();
  });
});
