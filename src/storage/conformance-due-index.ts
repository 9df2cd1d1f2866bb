/**
 * Due-index cases of the storage conformance suite ({@link DueIndex}: what a renewal pass reads instead
 * of listing every certificate). A backend that does not implement `DueIndex` passes them without
 * running them (and says so in the log); one that does must keep every rule below.
 */
import { check, expectRefusal, unique, type AddCase } from "./conformance-check.ts";
import { dueIndexOf, type DueIndex } from "./due-index.ts";
import type { Storage } from "./storage.ts";

/** Registers the due-index cases with `add`. */
export function dueIndexCases(add: AddCase, log: (line: string) => void): void {
  const withIndex = (run: (s: Storage & DueIndex) => Promise<void>) => async (s: Storage) => {
    const index = dueIndexOf(s);
    if (index === undefined) return log("storage conformance: not a DueIndex, due-index case not applicable");
    await run(index);
  };

  add(
    "due() returns what is due at or before a time, earliest first, up to the limit; setDue moves, clearDue removes",
    withIndex(async (s) => {
      const p = unique("d");
      const base = randomBase();
      // Other cases may share the index: only look at our own ids.
      const mine = async (until: number, limit = 1000) => (await s.due(until, limit)).filter((e) => e.id.startsWith(p));
      for (let i = 0; i < 10; i++) await s.setDue(`${p}/c${i}`, base + (9 - i) * 1000);
      const due = await mine(base + 4_000);
      check(sameList(due.map((e) => e.id), [`${p}/c9`, `${p}/c8`, `${p}/c7`, `${p}/c6`, `${p}/c5`]), `due at base+4s: ${JSON.stringify(due)}`);
      check(due[0]!.dueAtMs === base, `the earliest entry's dueAtMs is ${due[0]!.dueAtMs}, expected ${base}`);
      await s.setDue(`${p}/c9`, base + 100_000);
      await s.clearDue(`${p}/c8`);
      await s.clearDue(`${p}/never`);
      const after = (await mine(base + 4_000)).map((e) => e.id);
      check(sameList(after, [`${p}/c7`, `${p}/c6`, `${p}/c5`]), `after moving c9 and clearing c8: ${JSON.stringify(after)}`);
      check((await mine(base + 1e9)).length === 9, "9 entries must remain");
      const limited = await s.due(base + 1e9, 2);
      check(limited.length <= 2, `due(…, 2) returned ${limited.length} entries`);
      check((await s.due(0, 5)).length === 0, "nothing is due at epoch 0");
      await expectRefusal(s.due(base, 0), "invalid_input");
      await expectRefusal(s.setDue(`${p}/x`, Number.NaN), "invalid_input");
      await expectRefusal(s.setDue("../x", base), "invalid_input");
    }),
  );

  add(
    "earlierOnly moves an entry earlier, never later, and creates a missing one",
    withIndex(async (s) => {
      const p = unique("e");
      const base = randomBase();
      const at = async (id: string) => (await s.due(base + 1e9, 10_000)).find((e) => e.id === id)?.dueAtMs;
      await s.setDue(`${p}/a`, base + 5_000);
      await s.setDue(`${p}/a`, base + 9_000, { earlierOnly: true });
      check((await at(`${p}/a`)) === base + 5_000, "earlierOnly must not move an entry later");
      await s.setDue(`${p}/a`, base + 1_000, { earlierOnly: true });
      check((await at(`${p}/a`)) === base + 1_000, "earlierOnly must move an entry earlier");
      await s.setDue(`${p}/new`, base + 7_000, { earlierOnly: true });
      check((await at(`${p}/new`)) === base + 7_000, "earlierOnly must create a missing entry");
    }),
  );

  add(
    "fenced entries: written while the lease holds; refused with lease_lost, unchanged, once it was released or taken over",
    withIndex(async (s) => {
      const p = unique("f");
      const base = randomBase();
      const at = async (id: string) => (await s.due(base + 1e9, 10_000)).find((e) => e.id === id)?.dueAtMs;
      const lease = await s.lock(`${p}/lock`, { ttlMs: 60_000 });
      await s.setDue(`${p}/c`, base + 1_000, { fence: lease });
      await lease.release();
      await expectRefusal(s.setDue(`${p}/c`, base + 90_000, { fence: lease }), "lease_lost");
      await expectRefusal(s.clearDue(`${p}/c`, { fence: lease }), "lease_lost");
      check((await at(`${p}/c`)) === base + 1_000, "a refused due-index write changed the entry");
      const next = await s.lock(`${p}/lock`, { ttlMs: 60_000 });
      await expectRefusal(s.setDue(`${p}/c`, base + 90_000, { fence: lease, earlierOnly: true }), "lease_lost");
      await s.clearDue(`${p}/c`, { fence: next });
      check((await at(`${p}/c`)) === undefined, "clearDue under the current lease must remove the entry");
      await s.clearDue(`${p}/c`, { fence: next }); // missing: still fine while the lease holds
      await next.release();
    }),
  );
}

/** A time far from any other case's entries. */
function randomBase(): number {
  return 1_000_000_000_000 + Math.floor(Math.random() * 1e9);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
