/**
 * `edgecert/storage/conformance`: the behavioural contract of {@link Storage}, as test cases any
 * backend can run — edgecert's own, and third-party ones (Redis, PostgreSQL, ...). Needs no test
 * framework: a failed case throws an `Error`. Hand your runner's `describe`/`it` to
 * {@link runStorageConformance}, or run {@link storageConformanceCases} yourself:
 *
 * ```ts
 * // vitest (or node:test: `import { describe, it } from "node:test"`)
 * import { describe, it } from "vitest";
 * import { runStorageConformance } from "edgecert/storage/conformance";
 * runStorageConformance("MyStorage", () => new MyStorage(), { describe, it });
 * ```
 *
 * Groups: values (bytes kept exactly, key rules), conditional writes and versions, fenced writes, a seeded compare-and-set race, locks
 * (exclusion under contention, hand-over on release and on lapse, renew, tokens, waiting, abort), list
 * (completeness over page sizes; a seeded listing while others write — what `list` guarantees then is
 * stated in conformance-list.ts) and the due index (run only when the backend implements `DueIndex`).
 *
 * Cases use fresh random keys and lock names, so backends may share state between cases, and may run
 * at once. They need real timers: three leases of 1–2 s lapse on purpose, and are waited for by
 * polling the backend (bounded), never by a fixed sleep, so a slow machine makes the suite slower, not
 * wrong. About 5 s in all on a local backend.
 * @module
 */
import { isEdgecertError } from "../errors.ts";
import type { Storage } from "./storage.ts";
import { seededRandom } from "./seeded-random.ts";
import { check, checkText, entryOf, expectRefusal, plain, sleep, unchanged, unique, untilLapsed, type AddCase } from "./conformance-check.ts";
import { lockCases } from "./conformance-locks.ts";
import { listCases } from "./conformance-list.ts";
import { dueIndexCases } from "./conformance-due-index.ts";
import { valueCases } from "./conformance-values.ts";

export { expectRefusal } from "./conformance-check.ts";

/** One named case of the suite. `run` resolves when the backend conforms and throws an `Error` when not. */
export interface ConformanceCase {
  /** Group, e.g. `"conditional writes"`. */
  readonly group: string;
  /** The case's name. */
  readonly name: string;
  /** Runs it; rejects on a failed expectation. */
  run(): Promise<void>;
}

/** Options for {@link storageConformanceCases}. */
export interface StorageConformanceOptions {
  /**
   * Seed of the seeded cases (the compare-and-set race). Default: a random one, printed, so that a
   * failing run can be replayed by passing it here.
   */
  seed?: number;
  /** Where the seeded cases print what they searched. Default `console.log`. */
  log?: (line: string) => void;
}

/** The `describe`/`it` pair of a test runner (vitest, node:test, mocha, jest, ...). */
export interface ConformanceHooks {
  /** Groups cases (vitest's / jest's / mocha's `describe`). */
  describe(name: string, body: () => void): unknown;
  /** Registers one case (`it` / `test`). */
  it(name: string, run: () => Promise<void>): unknown;
}

/** Makes the storage under test; called once per case. */
export type MakeStorage = () => Storage | Promise<Storage>;

/**
 * Registers every case of {@link storageConformanceCases} with `hooks`: one `describe` named
 * `"<name> (storage conformance)"`, one nested `describe` per group, one `it` per case.
 */
export function runStorageConformance(name: string, makeStorage: MakeStorage, hooks: ConformanceHooks, options: StorageConformanceOptions = {}): void {
  const cases = storageConformanceCases(makeStorage, options);
  hooks.describe(`${name} (storage conformance)`, () => {
    for (const group of [...new Set(cases.map((c) => c.group))]) {
      hooks.describe(group, () => {
        for (const c of cases.filter((c) => c.group === group)) hooks.it(c.name, () => c.run());
      });
    }
  });
}

/** Every case of the storage contract, for `makeStorage`'s backend. */
export function storageConformanceCases(makeStorage: MakeStorage, options: StorageConformanceOptions = {}): ConformanceCase[] {
  const log = options.log ?? ((line: string) => console.log(line));
  const cases: ConformanceCase[] = [];
  const add = (group: string, name: string, run: (s: Storage) => Promise<void>) => cases.push({ group, name, run: async () => run(await makeStorage()) });
  valueCases((name, run) => add("values", name, run));
  conditionalCases((name, run) => add("conditional writes", name, run));
  fenceCases((name, run) => add("fenced writes", name, run));
  add("concurrency", "seeded compare-and-set race: concurrent read-modify-write increments lose no update", (s) => casRace(s, options.seed, log));
  lockCases((name, run) => add("locks", name, run));
  listCases((name, run) => add("list", name, run), options.seed, log);
  dueIndexCases((name, run) => add("due index", name, run), log);
  return cases;
}

type Add = AddCase;

function conditionalCases(add: Add): void {
  add("getEntry returns the value with a version; get agrees; a missing key is undefined", async (s) => {
    const key = `${unique("ge")}/v`;
    check((await s.getEntry(key)) === undefined, "getEntry of a missing key must be undefined");
    await s.put(key, "one");
    const entry = await entryOf(s, key);
    checkText(entry.value, "one", "getEntry value");
    check(typeof entry.version === "string" && entry.version.length > 0, `version must be a non-empty string, got ${JSON.stringify(entry.version)}`);
    checkText(await s.get(key), "one", "get value");
  });

  add("versions change on every write (also rewriting the same bytes, and after delete + recreate)", async (s) => {
    const key = `${unique("vc")}/v`;
    const seen: string[] = [];
    for (const value of ["a", "b", "b", "c"]) {
      await s.put(key, value);
      const { version } = await entryOf(s, key);
      check(!seen.includes(version), `version ${JSON.stringify(version)} after writing ${JSON.stringify(value)} was already used (${JSON.stringify(seen)})`);
      seen.push(version);
    }
    await s.delete(key);
    await s.put(key, "d");
    const { version } = await entryOf(s, key);
    check(!seen.includes(version), `version after delete + recreate (${JSON.stringify(version)}) was already used`);
  });

  add("ifVersion: the current version writes; a stale one is refused with conflict and changes nothing", async (s) => {
    const key = `${unique("iv")}/v`;
    await s.put(key, "first");
    const first = await entryOf(s, key);
    await s.put(key, "second", { ifVersion: first.version });
    const second = await entryOf(s, key);
    checkText(second.value, "second", "value after a matching ifVersion");
    check(second.version !== first.version, "a conditional write must change the version");
    await expectRefusal(s.put(key, "stale", { ifVersion: first.version }), "conflict");
    await unchanged(s, key, second);
  });

  add("ifVersion null: creates an absent key, refuses (conflict) when it exists", async (s) => {
    const key = `${unique("in")}/v`;
    await s.put(key, "created", { ifVersion: null });
    const created = await entryOf(s, key);
    checkText(created.value, "created", "value created with ifVersion null");
    await expectRefusal(s.put(key, "again", { ifVersion: null }), "conflict");
    await unchanged(s, key, created);
  });

  add("ifVersion of a key that does not exist (any more) is a conflict", async (s) => {
    const key = `${unique("ia")}/v`;
    await s.put(key, "x");
    const { version } = await entryOf(s, key);
    await s.delete(key);
    await expectRefusal(s.put(key, "y", { ifVersion: version }), "conflict");
    check((await s.getEntry(key)) === undefined, "a refused write must not create the key");
    await expectRefusal(s.put(`${unique("ia")}/never`, "y", { ifVersion: version }), "conflict");
  });

  add("delete with conditions: stale version and ifVersion null are refused; the current version deletes", async (s) => {
    const key = `${unique("dc")}/v`;
    await s.put(key, "one");
    const one = await entryOf(s, key);
    await s.put(key, "two");
    const two = await entryOf(s, key);
    await expectRefusal(s.delete(key, { ifVersion: one.version }), "conflict");
    await expectRefusal(s.delete(key, { ifVersion: null }), "conflict");
    await unchanged(s, key, two);
    await s.delete(key, { ifVersion: two.version });
    check((await s.getEntry(key)) === undefined, "delete with the current version must delete");
    check((await s.list(key)).keys.length === 0, "a deleted key must not be listed");
    await s.delete(key, { ifVersion: null }); // absent: the condition holds, deleting nothing is fine
    await expectRefusal(s.delete(key, { ifVersion: two.version }), "conflict");
    await s.put(key, "three", { ifVersion: null });
    checkText(await s.get(key), "three", "recreated after a conditional delete");
  });

  add("malformed conditions are rejected with invalid_input", async (s) => {
    const key = `${unique("mc")}/v`;
    const bad: unknown[] = [{ ifVersion: 5 }, { ifVersion: "" }, { fence: { name: "../x", token: 1 } }, { fence: { name: "ok", token: 0 } }, { fence: { name: "ok", token: 1.5 } }, { fence: null }];
    for (const when of bad) {
      await expectRefusal(s.put(key, "x", when as never), "invalid_input");
      await expectRefusal(s.delete(key, when as never), "invalid_input");
    }
    check((await s.getEntry(key)) === undefined, "a rejected write must not create the key");
  });
}

function fenceCases(add: Add): void {
  add("a write fenced by the current holder succeeds (put and delete; Lease or plain {name, token})", async (s) => {
    const p = unique("fh");
    const lease = await s.lock(`${p}/lock`, { ttlMs: 30_000 });
    await s.put(`${p}/a`, "by lease", { fence: lease });
    checkText(await s.get(`${p}/a`), "by lease", "value written under the lease");
    await s.put(`${p}/a`, "by plain fence", { fence: plain(lease) });
    checkText(await s.get(`${p}/a`), "by plain fence", "value written with a plain fence");
    const { version } = await entryOf(s, `${p}/a`);
    await s.put(`${p}/a`, "fence and version", { fence: lease, ifVersion: version });
    await s.put(`${p}/b`, "new", { fence: lease, ifVersion: null });
    await s.delete(`${p}/b`, { fence: lease });
    check((await s.getEntry(`${p}/b`)) === undefined, "fenced delete must delete");
    await lease.release();
  });

  add("a write fenced by a lapsed lease is refused (lease_lost, nothing changes) before and after a takeover; the new holder's writes land", async (s) => {
    const p = unique("fl");
    await s.put(`${p}/v`, "before");
    // Long enough for the first fenced write even on a loaded machine; the lapse is then waited for, not slept.
    const old = await s.lock(`${p}/lock`, { ttlMs: 2_000 });
    await s.put(`${p}/v`, "old holder", { fence: old });
    const before = await entryOf(s, `${p}/v`);
    await untilLapsed(s, old, `${p}/probe`);
    // Lapsed, nobody took the lock over yet. A plain {name, token} skips the caller's own clock check: the backend must refuse by itself.
    await expectRefusal(s.put(`${p}/v`, "late", { fence: plain(old) }), "lease_lost");
    await expectRefusal(s.put(`${p}/new`, "late", { fence: plain(old) }), "lease_lost");
    await expectRefusal(s.delete(`${p}/v`, { fence: plain(old) }), "lease_lost");
    await expectRefusal(s.put(`${p}/v`, "late", { fence: old }), "lease_lost");
    await expectRefusal(s.put(`${p}/v`, "late", { fence: plain(old), ifVersion: before.version }), "lease_lost");
    // Both conditions fail: the lost lease is what the writer must hear.
    await expectRefusal(s.put(`${p}/v`, "late", { fence: plain(old), ifVersion: "not-a-version" }), "lease_lost");
    await unchanged(s, `${p}/v`, before);
    check((await s.getEntry(`${p}/new`)) === undefined, "a refused fenced write must not create the key");
    // Taken over.
    const current = await s.lock(`${p}/lock`, { ttlMs: 60_000, waitMs: 5_000 });
    check(current.token > old.token, `the new holder's token ${current.token} must exceed ${old.token}`);
    await s.put(`${p}/v`, "new holder", { fence: current });
    const after = await entryOf(s, `${p}/v`);
    await expectRefusal(s.put(`${p}/v`, "stale holder", { fence: plain(old) }), "lease_lost");
    await expectRefusal(s.put(`${p}/v`, "stale holder", { fence: plain(old), ifVersion: after.version }), "lease_lost");
    await expectRefusal(s.delete(`${p}/v`, { fence: plain(old) }), "lease_lost");
    await unchanged(s, `${p}/v`, after);
    await current.release();
  });

  add("a write fenced by a released lease, an unknown lock or a token never handed out is refused", async (s) => {
    const p = unique("fr");
    const lease = await s.lock(`${p}/lock`, { ttlMs: 30_000 });
    await lease.release();
    await expectRefusal(s.put(`${p}/v`, "x", { fence: lease }), "lease_lost");
    await expectRefusal(s.put(`${p}/v`, "x", { fence: { name: `${p}/never-locked`, token: 1 } }), "lease_lost");
    const held = await s.lock(`${p}/lock`, { ttlMs: 30_000 });
    await expectRefusal(s.put(`${p}/v`, "x", { fence: { name: held.name, token: held.token + 1 } }), "lease_lost");
    await expectRefusal(s.put(`${p}/v`, "x", { fence: { name: `${p}/other-lock`, token: held.token } }), "lease_lost");
    check((await s.getEntry(`${p}/v`)) === undefined, "refused fenced writes must not create the key");
    await held.release();
  });

  add("fence and version together: a stale version under a held lease is a conflict", async (s) => {
    const p = unique("fv");
    const lease = await s.lock(`${p}/lock`, { ttlMs: 30_000 });
    await s.put(`${p}/v`, "one");
    const one = await entryOf(s, `${p}/v`);
    await s.put(`${p}/v`, "two");
    const two = await entryOf(s, `${p}/v`);
    await expectRefusal(s.put(`${p}/v`, "three", { fence: lease, ifVersion: one.version }), "conflict");
    await unchanged(s, `${p}/v`, two);
    await lease.release();
  });
}

/**
 * 2–4 writers (by seed) each try to increment one counter `INCREMENTS` times by getEntry + put with
 * `ifVersion`, retrying on `conflict` for at most `ROUNDS` rounds per increment, with seeded pauses
 * between read and write. The final count must equal the number of writes that succeeded, and every
 * successful write must have written a distinct count.
 */
async function casRace(s: Storage, seedOption: number | undefined, log: (line: string) => void): Promise<void> {
  const seed = seedOption ?? Math.floor(Math.random() * 2 ** 32);
  const random = seededRandom(seed);
  const writers = 2 + Math.floor(random() * 3);
  const INCREMENTS = 6;
  const ROUNDS = 60;
  const key = `${unique("cas")}/counter`;
  const pauses = Array.from({ length: writers }, () => Array.from({ length: INCREMENTS * ROUNDS }, () => pauseFrom(random())));
  let operations = 0;
  let conflicts = 0;
  let gaveUp = 0;
  const written: number[] = [];
  await Promise.all(
    pauses.map(async (mine) => {
      let step = 0;
      for (let i = 0; i < INCREMENTS; i++) {
        for (let round = 0; ; round++) {
          if (round === ROUNDS) {
            gaveUp++;
            break;
          }
          operations++;
          const entry = await s.getEntry(key);
          const n = entry === undefined ? 0 : Number(new TextDecoder().decode(entry.value));
          await pause(mine[step++ % mine.length]!);
          operations++;
          try {
            await s.put(key, String(n + 1), { ifVersion: entry === undefined ? null : entry.version });
            written.push(n + 1);
            break;
          } catch (error) {
            if (!isEdgecertError(error, "conflict")) throw error;
            conflicts++;
          }
        }
      }
    }),
  );
  const final = Number(new TextDecoder().decode((await s.get(key)) ?? new Uint8Array()));
  log(
    `storage conformance CAS race (seed ${seed}): ${writers} writers × ${INCREMENTS} increments, ${written.length} writes landed, ` +
      `${conflicts} conflicts, ${gaveUp} gave up after ${ROUNDS} rounds, ${operations} operations; replay with seed ${seed}`,
  );
  const replay = `(replay with seed ${seed})`;
  check(final === written.length, `lost update: the counter is ${final} but ${written.length} writes succeeded ${replay}`);
  check(new Set(written).size === written.length, `two writes succeeded from the same read: wrote ${JSON.stringify(written.sort((a, b) => a - b))} ${replay}`);
  check(written.length > 0, `no write landed at all ${replay}`);
}

/** A seeded pause: none, a microtask, a macrotask, or a few ms. */
type Pause = { kind: "none" } | { kind: "microtask" } | { kind: "timer"; ms: number };

function pauseFrom(r: number): Pause {
  if (r < 0.25) return { kind: "none" };
  if (r < 0.5) return { kind: "microtask" };
  return { kind: "timer", ms: Math.floor((r - 0.5) * 8) };
}

async function pause(p: Pause): Promise<void> {
  if (p.kind === "microtask") await Promise.resolve();
  else if (p.kind === "timer") await sleep(p.ms);
}
