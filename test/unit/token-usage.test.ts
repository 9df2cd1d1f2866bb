import { describe, expect, it } from "vitest";
import { EdgecertError } from "../../src/errors.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage, WriteConditions } from "../../src/storage/storage.ts";
import { storedUse, UsageRecorder } from "../../workers/hub/token-usage.ts";
import { seededRandom } from "../support/seeded-random.ts";

// Deploy-token uses counted per isolate and flushed (workers/hub/token-usage.ts): several recorders
// (isolates) on one storage, flushing at seeded points while others flush too, with writes that fail
// now and then. Whatever the interleaving, every use is written exactly once. Replay one seed with
// TOKEN_USAGE_SEED=<n>; search more with TOKEN_USAGE_SEEDS=<n> (default 30).

/** MemoryStorage whose puts fail (as a storage outage) with probability `failRate` while failing is on. */
function flaky(inner: Storage, random: () => number, failRate: number): Storage & { failing: boolean; failed: number } {
  const s = {
    failing: true,
    failed: 0,
    get: (k: string) => inner.get(k),
    getEntry: (k: string) => inner.getEntry(k),
    async put(k: string, v: Uint8Array | string, when?: WriteConditions) {
      if (s.failing && random() < failRate) {
        s.failed++;
        throw new EdgecertError("storage", "injected write failure");
      }
      return inner.put(k, v, when);
    },
    delete: (k: string, when?: WriteConditions) => inner.delete(k, when),
    list: inner.list.bind(inner),
    lock: inner.lock.bind(inner),
  };
  return s;
}

describe("token uses, aggregated per isolate", () => {
  it("every use is written exactly once across isolates, concurrent flushes and failed writes (seeded)", async () => {
    const first = Number(process.env.TOKEN_USAGE_SEED ?? 1);
    const seeds = process.env.TOKEN_USAGE_SEED !== undefined ? 1 : Number(process.env.TOKEN_USAGE_SEEDS ?? 30);
    let uses = 0;
    let flushes = 0;
    let failedWrites = 0;
    for (let seed = first; seed < first + seeds; seed++) {
      const random = seededRandom(seed);
      const storage = flaky(new MemoryStorage(), random, 0.2);
      const isolates = Array.from({ length: 2 + Math.floor(random() * 3) }, () => new UsageRecorder(0));
      const scheduled: Array<Promise<unknown>> = [];
      const inFlight: Array<Promise<void>> = [];
      const expected = new Map<string, { uses: number; last: number; from: string }>();
      const n = 50 + Math.floor(random() * 150);
      for (let i = 0; i < n; i++) {
        const token = `tok${Math.floor(random() * 3)}`.padEnd(12, "x");
        const at = 1_000 + i;
        const isolate = isolates[Math.floor(random() * isolates.length)]!;
        const from = `192.0.2.${i % 250}`;
        isolate.record(storage, token, at, from, (p) => scheduled.push(p));
        expected.set(token, { uses: (expected.get(token)?.uses ?? 0) + 1, last: at, from });
        // Flushes start at seeded points, without waiting: they overlap each other and later uses.
        if (random() < 0.15) {
          inFlight.push(isolates[Math.floor(random() * isolates.length)]!.flush(storage));
          flushes++;
        }
      }
      await Promise.all([...inFlight, ...scheduled]);
      // Writes work again: one flush per isolate writes whatever failed before (the listing's flush).
      storage.failing = false;
      for (const isolate of isolates) await isolate.flush(storage);
      failedWrites += storage.failed;
      for (const [token, e] of expected) {
        const stored = await storedUse(storage, token);
        expect(stored?.uses, `seed ${seed} ${token}`).toBe(e.uses);
        expect(stored?.lastUsedAt, `seed ${seed} ${token}`).toBe(e.last);
        expect(stored?.lastUsedFrom, `seed ${seed} ${token}`).toBe(e.from);
        uses += e.uses;
      }
    }
    console.log(`token uses: ${seeds} seeds from ${first}, ${uses} uses over 2-4 isolates, ${flushes} overlapping flushes, ${failedWrites} writes failed and retried later: every use written exactly once; replay with TOKEN_USAGE_SEED=<seed>`);
  });
});
