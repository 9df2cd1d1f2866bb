/**
 * Conditional writes (ifVersion, fence) and the due index, for the fleet backends (Redis, PostgreSQL,
 * Deno KV). Written beside the shared conformance suite until that suite covers the write conditions.
 */
import { describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/storage.ts";
import type { DueIndex } from "../../src/storage/due-index.ts";
import { expectCode } from "../storage/conformance.ts";

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runWriteConditionsConformance(name: string, makeStorage: () => Storage | Promise<Storage>): void {
  describe(`${name} (write conditions)`, () => {
    it("versions: getEntry names one; every write changes it, also rewriting the same bytes and re-creating after delete", async () => {
      const s = await makeStorage();
      const key = `${unique("v")}/k`;
      expect(await s.getEntry!(key)).toBeUndefined();
      await s.put(key, "a");
      const v1 = (await s.getEntry!(key))!;
      expect(text(v1.value)).toBe("a");
      await s.put(key, "a");
      const v2 = (await s.getEntry!(key))!;
      expect(v2.version).not.toBe(v1.version);
      await s.delete(key);
      await s.put(key, "a");
      const v3 = (await s.getEntry!(key))!;
      expect(new Set([v1.version, v2.version, v3.version]).size).toBe(3);
      // A version from before the delete is refused: no ABA.
      await expectCode(s.put(key, "b", { ifVersion: v1.version }), "conflict");
      expect(text(await s.get(key))).toBe("a");
    });

    it("ifVersion: writes only at that version, null only when absent; refused writes change nothing", async () => {
      const s = await makeStorage();
      const key = `${unique("c")}/k`;
      await s.put(key, "first", { ifVersion: null });
      await expectCode(s.put(key, "again", { ifVersion: null }), "conflict");
      const e = (await s.getEntry!(key))!;
      await s.put(key, "second", { ifVersion: e.version });
      await expectCode(s.put(key, "third", { ifVersion: e.version }), "conflict");
      expect(text(await s.get(key))).toBe("second");
      const e2 = (await s.getEntry!(key))!;
      await expectCode(s.delete(key, { ifVersion: e.version }), "conflict");
      await expectCode(s.delete(key, { ifVersion: null }), "conflict");
      expect(text(await s.get(key))).toBe("second");
      await s.delete(key, { ifVersion: e2.version });
      expect(await s.get(key)).toBeUndefined();
      await expectCode(s.delete(key, { ifVersion: e2.version }), "conflict");
      await s.delete(key, { ifVersion: null }); // absent: holds, nothing to do
      expect((await s.list(key)).keys).toEqual([]);
    });

    it("no lost update: 12 concurrent compare-and-set increments with retry all land", async () => {
      const s = await makeStorage();
      const key = `${unique("i")}/n`;
      await s.put(key, "0");
      let conflicts = 0;
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          for (;;) {
            const e = (await s.getEntry!(key))!;
            try {
              await s.put(key, String(Number(text(e.value)) + 1), { ifVersion: e.version });
              return;
            } catch (error) {
              if ((error as { code?: string }).code !== "conflict") throw error;
              conflicts++;
            }
          }
        }),
      );
      expect(text(await s.get(key))).toBe("12");
      expect(conflicts).toBeGreaterThanOrEqual(0);
    });

    it("fence: a held lease writes; a released, lapsed or taken-over one is refused with lease_lost and changes nothing", async () => {
      const s = await makeStorage();
      const p = unique("f");
      const lockName = `${p}/lock`;
      const key = `${p}/record`;
      // Margins of 700 ms and more, so a loaded machine's late timers do not decide the outcome.
      const a = await s.lock(lockName, { ttlMs: 800 });
      await s.put(key, "by-a", { fence: a });
      // Lapsed, not yet taken over: refused by expiry alone.
      await sleep(1_500);
      await expectCode(s.put(key, "late-a", { fence: a }), "lease_lost");
      await expectCode(s.delete(key, { fence: a }), "lease_lost");
      expect(text(await s.get(key))).toBe("by-a");
      // Taken over: the new holder writes, the old token stays refused.
      const b = await s.lock(lockName, { ttlMs: 10_000, waitMs: 0 });
      expect(b.token).toBeGreaterThan(a.token);
      await s.put(key, "by-b", { fence: b });
      await expectCode(s.put(key, "late-a", { fence: a }), "lease_lost");
      await expectCode(s.put(key, "forged", { fence: { name: lockName, token: b.token + 1 } }), "lease_lost");
      await expectCode(s.put(`${p}/other`, "x", { fence: { name: `${p}/never-locked`, token: 1 } }), "lease_lost");
      // Both conditions fail: the lost lease is what the writer must hear.
      await expectCode(s.put(key, "x", { fence: a, ifVersion: "nope" }), "lease_lost");
      const e = (await s.getEntry!(key))!;
      await s.put(key, "by-b-cas", { fence: b, ifVersion: e.version });
      await expectCode(s.put(key, "x", { fence: b, ifVersion: e.version }), "conflict");
      await b.release();
      await expectCode(s.put(key, "after-release", { fence: b }), "lease_lost");
      expect(text(await s.get(key))).toBe("by-b-cas");
      expect(await s.get(`${p}/other`)).toBeUndefined();
      // The next lease gets a larger token and writes again.
      const c = await s.lock(lockName, { ttlMs: 10_000, waitMs: 0 });
      expect(c.token).toBeGreaterThan(b.token);
      await s.delete(key, { fence: c });
      expect(await s.get(key)).toBeUndefined();
      await c.release();
    });

    it("a renewed lease keeps writing past its first expiry", async () => {
      const s = await makeStorage();
      const p = unique("r");
      const lease = await s.lock(`${p}/lock`, { ttlMs: 1_000 });
      await lease.renew(10_000);
      await sleep(1_500);
      await s.put(`${p}/k`, "ok", { fence: lease });
      expect(text(await s.get(`${p}/k`))).toBe("ok");
      await lease.release();
    });

    it("rejects malformed conditions with invalid_input", async () => {
      const s = await makeStorage();
      const key = `${unique("m")}/k`;
      await expectCode(s.put(key, "x", { ifVersion: 5 as unknown as string }), "invalid_input");
      await expectCode(s.put(key, "x", { fence: { name: "../x", token: 1 } }), "invalid_input");
      await expectCode(s.put(key, "x", { fence: { name: "ok", token: 1.5 } }), "invalid_input");
      expect(await s.get(key)).toBeUndefined();
    });
  });
}

export function runDueIndexConformance(name: string, make: () => (Storage & DueIndex) | Promise<Storage & DueIndex>): void {
  describe(`${name} (due index)`, () => {
    it("returns what is due, earliest first, up to the limit; moves and clears entries", async () => {
      const s = await make();
      const p = unique("d");
      const base = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
      // Other tests may share the index: only look at our own ids.
      const mine = async (until: number, limit = 1000) => (await s.due(until, limit)).filter((e) => e.id.startsWith(p));
      for (let i = 0; i < 10; i++) await s.setDue(`${p}/c${i}`, base + (9 - i) * 1000);
      expect((await mine(base + 4_000)).map((e) => e.id)).toEqual([`${p}/c9`, `${p}/c8`, `${p}/c7`, `${p}/c6`, `${p}/c5`]);
      expect((await mine(base + 4_000))[0]!.dueAtMs).toBe(base);
      await s.setDue(`${p}/c9`, base + 100_000);
      await s.clearDue(`${p}/c8`);
      await s.clearDue(`${p}/never`);
      expect((await mine(base + 4_000)).map((e) => e.id)).toEqual([`${p}/c7`, `${p}/c6`, `${p}/c5`]);
      expect((await mine(base + 1e9)).length).toBe(9);
      expect(await s.due(0, 5)).toEqual([]);
      await expectCode(s.due(base, 0), "invalid_input");
      await expectCode(s.setDue(`${p}/x`, Number.NaN), "invalid_input");
      await expectCode(s.setDue("../x", base), "invalid_input");
    });

    it("earlierOnly moves an entry earlier, never later, and creates a missing one", async () => {
      const s = await make();
      const p = unique("e");
      const base = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const at = async (id: string) => (await s.due(base + 1e9, 10_000)).find((e) => e.id === id)?.dueAtMs;
      await s.setDue(`${p}/a`, base + 5_000);
      await s.setDue(`${p}/a`, base + 9_000, { earlierOnly: true });
      expect(await at(`${p}/a`)).toBe(base + 5_000);
      await s.setDue(`${p}/a`, base + 1_000, { earlierOnly: true });
      expect(await at(`${p}/a`)).toBe(base + 1_000);
      await s.setDue(`${p}/new`, base + 7_000, { earlierOnly: true });
      expect(await at(`${p}/new`)).toBe(base + 7_000);
    });

    it("fenced entries: written while the lease holds, refused (lease_lost, unchanged) once it was released or taken over", async () => {
      const s = await make();
      const p = unique("f");
      const base = 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const at = async (id: string) => (await s.due(base + 1e9, 10_000)).find((e) => e.id === id)?.dueAtMs;
      const lease = await s.lock(`${p}/lock`, { ttlMs: 30_000 });
      await s.setDue(`${p}/c`, base + 1_000, { fence: lease });
      await lease.release();
      await expectCode(s.setDue(`${p}/c`, base + 90_000, { fence: lease }), "lease_lost");
      await expectCode(s.clearDue(`${p}/c`, { fence: lease }), "lease_lost");
      expect(await at(`${p}/c`)).toBe(base + 1_000);
      const next = await s.lock(`${p}/lock`, { ttlMs: 30_000 });
      await expectCode(s.setDue(`${p}/c`, base + 90_000, { fence: lease, earlierOnly: true }), "lease_lost");
      await s.clearDue(`${p}/c`, { fence: next });
      expect(await at(`${p}/c`)).toBeUndefined();
      await s.clearDue(`${p}/c`, { fence: next }); // missing: still fine while the lease holds
      await next.release();
    });
  });
}
