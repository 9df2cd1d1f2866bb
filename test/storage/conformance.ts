/**
 * One behavioural contract for every {@link Storage} backend. Each backend's test file calls
 * `runStorageConformance(name, makeStorage)`; the same suite runs under Node and inside workerd.
 * Tests use a fresh random key prefix and lock names, so backends may share state between tests.
 * The conditional-write cases come from the exported suite (`edgecert/storage/conformance`); its
 * seeded cases take their seed from `EDGECERT_STORAGE_SEED` (under Node the environment variable,
 * inside workerd the binding of that name, which vitest.config.ts fills from the same variable).
 */
import { describe, expect, it } from "vitest";
import { expectRefusal, runStorageConformance as runExportedConformance } from "../../src/storage/conformance.ts";
import type { Lease, Storage } from "../../src/storage/storage.ts";

const utf8 = new TextEncoder();

function unique(label: string): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

async function allKeys(storage: Storage, prefix: string, limit: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await storage.list(prefix, cursor === undefined ? { limit } : { limit, cursor });
    expect(page.keys.length).toBeLessThanOrEqual(limit);
    keys.push(...page.keys);
    cursor = page.cursor;
    pages++;
    if (pages > 100) throw new Error("list did not terminate");
  } while (cursor !== undefined);
  return { keys, pages };
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

    describe("list", () => {
      it("pages through a prefix in sorted order with no duplicates (25 keys, limit 10)", async () => {
        const s = await makeStorage();
        const p = unique("l");
        const expected = Array.from({ length: 25 }, (_, i) => `${p}/k${String(i).padStart(2, "0")}`);
        const shuffled = [...expected].sort(() => Math.random() - 0.5);
        await Promise.all(shuffled.map((key) => s.put(key, key)));
        await s.put(`${p}x/outside`, "x");
        await s.put(`${p.slice(0, -1)}/before`, "x");

        const { keys, pages } = await allKeys(s, `${p}/`, 10);
        expect(keys).toEqual(expected);
        expect(pages).toBeGreaterThanOrEqual(3);
        expect((await s.list(`${p}/`, { limit: 10 })).keys).toHaveLength(10);

        // A prefix may end inside a segment.
        expect((await allKeys(s, `${p}/k1`, 4)).keys).toEqual(expected.slice(10, 20));
        expect((await s.list(`${p}/k2`)).keys).toEqual(expected.slice(20));
        expect((await s.list(`${p}/k2`)).cursor).toBeUndefined();
      });

      it("keeps paging from where it was when keys change between pages", async () => {
        const s = await makeStorage();
        const p = unique("c");
        for (const k of ["a", "b", "c", "d", "e"]) await s.put(`${p}/${k}`, k);
        const first = await s.list(`${p}/`, { limit: 2 });
        expect(first.keys).toEqual([`${p}/a`, `${p}/b`]);
        await s.delete(`${p}/a`);
        await s.put(`${p}/f`, "f");
        const seen = [...first.keys];
        let cursor = first.cursor;
        while (cursor !== undefined) {
          const page = await s.list(`${p}/`, { limit: 2, cursor });
          seen.push(...page.keys);
          cursor = page.cursor;
        }
        expect(seen).toEqual([`${p}/a`, `${p}/b`, `${p}/c`, `${p}/d`, `${p}/e`, `${p}/f`]);
      });

      it("returns an empty last page for a prefix with no keys", async () => {
        const s = await makeStorage();
        expect(await s.list(`${unique("e")}/`)).toEqual({ keys: [] });
      });
    });

    describe("locks", () => {
      it("excludes: 10 concurrent read-modify-write increments under the lock all land", async () => {
        const s = await makeStorage();
        const p = unique("x");
        const counterKey = `${p}/counter`;
        let inside = 0;
        let overlap = false;
        const tokens: number[] = [];
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            const lease = await s.lock(`${p}/lock`, { ttlMs: 10_000, waitMs: 20_000 });
            inside++;
            if (inside > 1) overlap = true;
            tokens.push(lease.token);
            const raw = await s.get(counterKey);
            const n = raw === undefined ? 0 : Number(new TextDecoder().decode(raw));
            await sleep(2);
            await s.put(counterKey, String(n + 1));
            inside--;
            await lease.release();
          }),
        );
        expect(overlap).toBe(false);
        expect(new TextDecoder().decode(await s.get(counterKey))).toBe("10");
        for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
      });

      it("lets a lapsed lease be taken, with a larger token; the old holder cannot renew or release it", async () => {
        const s = await makeStorage();
        const name = `${unique("e")}/lock`;
        const first = await s.lock(name, { ttlMs: 1_000 });
        // While the lease is live nobody else gets it (a behaviour, not a duration: workerd's clock is coarse).
        await expectCode(s.lock(name, { waitMs: 0 }), "storage");
        const second = await s.lock(name, { ttlMs: 5_000, waitMs: 3_000 });
        expect(second.token).toBeGreaterThan(first.token);
        await expectCode(first.renew(), "storage");
        await first.release();
        await expectCode(s.lock(name, { waitMs: 0 }), "storage");
        await second.release();
      });

      it("hands out strictly increasing fencing tokens across releases", async () => {
        const s = await makeStorage();
        const name = `${unique("f")}/lock`;
        const tokens: number[] = [];
        for (let i = 0; i < 5; i++) {
          const lease = await s.lock(name, { ttlMs: 5_000, waitMs: 0 });
          tokens.push(lease.token);
          expect(lease.name).toBe(name);
          await lease.release();
        }
        for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
        const other = await s.lock(`${unique("f")}/other`, { waitMs: 0 });
        expect(other.token).toBeGreaterThan(0);
        await other.release();
      });

      it("renew extends the lease", async () => {
        const s = await makeStorage();
        const name = `${unique("r")}/lock`;
        // Margins of 300 ms and more, so a loaded machine's late timers do not lapse the lease.
        const lease = await s.lock(name, { ttlMs: 400 });
        const before = lease.expiresAt;
        expect(before).toBeGreaterThan(Date.now() - 50);
        await sleep(100);
        await lease.renew(1_000);
        expect(lease.expiresAt).toBeGreaterThan(before);
        await sleep(400); // past the first expiry, well inside the renewed one
        await expectCode(s.lock(name, { waitMs: 0 }), "storage");
        await lease.renew();
        await lease.release();
        await expectCode(lease.renew(), "storage");
        await lease.release(); // idempotent
      });

      it("release lets the next owner in at once, including one already waiting", async () => {
        const s = await makeStorage();
        const name = `${unique("n")}/lock`;
        const a = await s.lock(name, { ttlMs: 30_000 });
        await a.release();
        const b = await s.lock(name, { ttlMs: 30_000, waitMs: 0 });
        expect(b.token).toBeGreaterThan(a.token);
        const started = Date.now();
        const waiting = s.lock(name, { ttlMs: 30_000, waitMs: 20_000 });
        await sleep(50);
        await b.release();
        const c = await waiting;
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(c.token).toBeGreaterThan(b.token);
        await c.release();
      });

      it("fails with EdgecertError(storage) when waitMs runs out", async () => {
        const s = await makeStorage();
        const name = `${unique("w")}/lock`;
        const held = await s.lock(name, { ttlMs: 30_000 });
        const started = Date.now();
        await expectCode(s.lock(name, { waitMs: 150 }), "storage");
        const waited = Date.now() - started;
        expect(waited).toBeGreaterThanOrEqual(120);
        expect(waited).toBeLessThan(3_000);
        await expectCode(s.lock(name, { waitMs: 0 }), "storage");
        await held.release();
      });

      it("honours an abort signal, before and while waiting", async () => {
        const s = await makeStorage();
        const name = `${unique("a")}/lock`;
        const aborted = AbortSignal.abort();
        await expectCode(s.lock(name, { signal: aborted }), "aborted");
        // Nothing was left held by the aborted call.
        const held = await s.lock(name, { ttlMs: 30_000, waitMs: 0 });
        const controller = new AbortController();
        const started = Date.now();
        const waiting = s.lock(name, { waitMs: 20_000, signal: controller.signal });
        setTimeout(() => controller.abort(), 50);
        await expectCode(waiting, "aborted");
        expect(Date.now() - started).toBeLessThan(3_000);
        await held.release();
      });

      it("rejects bad lock names and options with invalid_input", async () => {
        const s = await makeStorage();
        await expectCode(s.lock("../x"), "invalid_input");
        await expectCode(s.lock("ok", { ttlMs: 0 }), "invalid_input");
        await expectCode(s.lock("ok", { ttlMs: Number.NaN }), "invalid_input");
        await expectCode(s.lock("ok", { waitMs: -1 }), "invalid_input");
        const lease: Lease = await s.lock(`${unique("o")}/ok`, { waitMs: 0 });
        await expectCode(lease.renew(-5), "invalid_input");
        await lease.release();
      });
    });
  });
}
