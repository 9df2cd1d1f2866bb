/**
 * A storage-with-due-index wrapper for manager tests on real backends: counts what is read (values,
 * listings, due-index reads) and can "die" right before a chosen due-index write, as a process killed
 * between a certificate write and its due-index write would. After that, every operation throws
 * {@link Crash}, and the locks it held lapse at that moment (see {@link heldLeases}).
 * @module
 */
import type { DueEntry, DueIndex, DueWriteOptions } from "../../src/storage/due-index.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { Crash, heldLeases } from "./crashable.ts";

/** What a probed storage has been asked to read since the last {@link ProbedStorage.reset}. */
export interface ReadCounts {
  /** `get` and `getEntry` calls, by key. */
  keys: string[];
  lists: number;
  dueReads: number;
}

/** See the module comment. */
export interface ProbedStorage {
  readonly storage: Storage & DueIndex;
  readonly reads: ReadCounts;
  reset(): void;
}

/** Wraps `inner`; `dieBefore` picks the due-index write (exact, not earlier-only) the process dies at. */
export function probed(inner: Storage & DueIndex, dieBefore?: (id: string, options: DueWriteOptions | undefined) => boolean): ProbedStorage {
  let dead = false;
  const reads: ReadCounts = { keys: [], lists: 0, dueReads: 0 };
  const alive = () => {
    if (dead) throw new Crash();
  };
  const leases = heldLeases(alive);
  const storage: Storage & DueIndex = {
    get: async (key) => (alive(), reads.keys.push(key), inner.get(key)),
    getEntry: async (key) => (alive(), reads.keys.push(key), inner.getEntry(key)),
    put: async (key, value, when) => (alive(), inner.put(key, value, when)),
    delete: async (key, when) => (alive(), inner.delete(key, when)),
    list: async (prefix, options) => (alive(), reads.lists++, inner.list(prefix, options)),
    lock: async (name, options) => (alive(), leases.wrap(await inner.lock(name, options))),
    setDue: async (id, dueAtMs, options) => {
      alive();
      if (dieBefore && !options?.earlierOnly && dieBefore(id, options)) {
        dead = true;
        await leases.lapseAll();
        throw new Crash();
      }
      return inner.setDue(id, dueAtMs, options);
    },
    clearDue: async (id, options) => (alive(), inner.clearDue(id, options)),
    due: async (until, limit): Promise<DueEntry[]> => (alive(), reads.dueReads++, inner.due(until, limit)),
  };
  return {
    storage,
    reads,
    reset() {
      reads.keys.length = 0;
      reads.lists = 0;
      reads.dueReads = 0;
    },
  };
}
