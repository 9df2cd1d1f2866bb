/**
 * One behavioural contract for every {@link Storage} backend. Each backend's test file calls
 * `runStorageConformance(name, makeStorage)`; the same suite runs under Node and inside workerd.
 * Tests use a fresh random key prefix and lock names, so backends may share state between tests.
 * The conditional-write, fence, lock, list and due-index cases come from the exported suite
 * (`edgecert/storage/conformance`); the value cases below are edgecert's own; its
 * seeded cases take their seed from `EDGECERT_STORAGE_SEED` (under Node the environment variable,
 * inside workerd the binding of that name, which vitest.config.ts fills from the same variable).
 */
import { describe, expect, it } from "vitest";
import { expectRefusal, runStorageConformance as runExportedConformance } from "../../src/storage/conformance.ts";
import type { Storage } from "../../src/storage/storage.ts";

const utf8 = new TextEncoder();

function unique(label: string): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}`;
}

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65_536)));
  return out;
}

/** Resolves with the error `promise` rejects with; fails the test if it resolves or has another code. */
export const expectCode = expectRefusal;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The replay seed from `EDGECERT_STORAGE_SEED`, when set (`binding`: the workerd binding's value). */
export function conformanceSeed(binding?: string): number | undefined {
  const text = binding ?? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.EDGECERT_STORAGE_SEED;
  if (text === undefined || text === "") return undefined;
  const seed = Number(text);
  if (!Number.isInteger(seed)) throw new Error(`EDGECERT_STORAGE_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed;
}

export function runStorageConformance(name: string, makeStorage: () => Storage | Promise<Storage>, seed: number | undefined = conformanceSeed()): void {
  runExportedConformance(name, makeStorage, { describe, it }, seed === undefined ? {} : { seed });
  describe(`${name} (storage conformance)`, () => {
    describe("values", () => {
      it("round-trips text as UTF-8", async () => {
        const s = await makeStorage();
        const key = `${unique("t")}/greeting.txt`;
        await s.put(key, "héllo ✓ 🌍");
        expect(await s.get(key)).toEqual(utf8.encode("héllo ✓ 🌍"));
      });

      it("round-trips binary: every byte value, empty, and 1 MiB", async () => {
        const s = await makeStorage();
        const p = unique("b");
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        const big = randomBytes(1024 * 1024);
        await Promise.all([s.put(`${p}/all`, all), s.put(`${p}/empty`, new Uint8Array(0)), s.put(`${p}/big`, big)]);
        expect(await s.get(`${p}/all`)).toEqual(all);
        const empty = await s.get(`${p}/empty`);
        expect(empty).toBeInstanceOf(Uint8Array);
        expect(empty?.length).toBe(0);
        const back = await s.get(`${p}/big`);
        expect(back?.length).toBe(big.length);
        // Element-wise toEqual on 1 MiB takes seconds; compare bytes directly.
        expect(back !== undefined && sameBytes(back, big)).toBe(true);
      });

      it("overwrites, and is not affected by later changes to the caller's array", async () => {
        const s = await makeStorage();
        const key = `${unique("o")}/v`;
        const value = Uint8Array.of(1, 2, 3);
        await s.put(key, value);
        value[0] = 9;
        expect(await s.get(key)).toEqual(Uint8Array.of(1, 2, 3));
        const read = await s.get(key);
        read![1] = 9;
        expect(await s.get(key)).toEqual(Uint8Array.of(1, 2, 3));
        await s.put(key, "second");
        expect(await s.get(key)).toEqual(utf8.encode("second"));
      });

      it("returns undefined for a missing key", async () => {
        const s = await makeStorage();
        expect(await s.get(`${unique("m")}/nothing-here`)).toBeUndefined();
      });

      it("deletes idempotently", async () => {
        const s = await makeStorage();
        const key = `${unique("d")}/gone`;
        await s.delete(key);
        await s.put(key, "x");
        await s.delete(key);
        expect(await s.get(key)).toBeUndefined();
        await s.delete(key);
        expect((await s.list(key)).keys).toEqual([]);
      });

      it("keeps a key and keys below it apart (a, a/b, a.b)", async () => {
        const s = await makeStorage();
        const p = unique("n");
        await s.put(`${p}/a/b`, "child");
        await s.put(`${p}/a`, "parent");
        await s.put(`${p}/a.b`, "sibling");
        await s.put(`${p}/.well-known/x~y%z`, "odd");
        expect(await s.get(`${p}/a`)).toEqual(utf8.encode("parent"));
        expect(await s.get(`${p}/a/b`)).toEqual(utf8.encode("child"));
        expect(await s.get(`${p}/.well-known/x~y%z`)).toEqual(utf8.encode("odd"));
        expect((await s.list(`${p}/`)).keys).toEqual([`${p}/.well-known/x~y%z`, `${p}/a`, `${p}/a.b`, `${p}/a/b`]);
        await s.delete(`${p}/a`);
        expect(await s.get(`${p}/a/b`)).toEqual(utf8.encode("child"));
      });

      it("rejects malformed keys with invalid_input", async () => {
        const s = await makeStorage();
        for (const key of ["", "/abs", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\u0000b", "a\nb", "a\u007fb", "é", "x".repeat(513)]) {
          await expectCode(s.put(key, "x"), "invalid_input");
          await expectCode(s.get(key), "invalid_input");
          await expectCode(s.delete(key), "invalid_input");
        }
        await expectCode(s.list("a\\"), "invalid_input");
        await expectCode(s.list("", { limit: 0 }), "invalid_input");
        await expectCode(s.list("", { cursor: "not a cursor" }), "invalid_input");
      });
    });
  });
}
