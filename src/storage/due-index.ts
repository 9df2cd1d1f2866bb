import { EdgecertError } from "../errors.ts";
import { assertValidKey } from "./keys.ts";
import type { Storage } from "./storage.ts";

/** One entry of a {@link DueIndex}: an id and when it falls due. */
export interface DueEntry {
  readonly id: string;
  /** Epoch ms. */
  readonly dueAtMs: number;
}

/**
 * An index of ids ordered by the time they fall due, kept by the storage backend so that a renewal pass
 * reads only what is due (O(due)) instead of every record (O(all)). A {@link Storage} may also implement
 * it; {@link dueIndexOf} tells. Entries are hints for a scheduler, not records: the manager re-reads the
 * record before it acts, so an entry that is stale or missing costs at most one extra read or one pass.
 */
export interface DueIndex {
  /** Sets (or moves) `id`'s due time. Ids follow the storage key rules. */
  setDue(id: string, dueAtMs: number): Promise<void>;
  /** Removes `id` from the index; removing a missing id is not an error. */
  clearDue(id: string): Promise<void>;
  /** Up to `limit` entries due at or before `untilMs`, earliest first. */
  due(untilMs: number, limit: number): Promise<DueEntry[]>;
}

/** A storage that also keeps a {@link DueIndex}. */
export type StorageWithDueIndex = Storage & DueIndex;

/** `storage` as a {@link DueIndex} when it implements one, else undefined. */
export function dueIndexOf(storage: Storage): (Storage & DueIndex) | undefined {
  const s = storage as Partial<DueIndex> & Storage;
  return typeof s.setDue === "function" && typeof s.clearDue === "function" && typeof s.due === "function" ? (s as Storage & DueIndex) : undefined;
}

/** Checks `setDue`/`due` arguments; `invalid_input` for a non-finite time or a bad limit. */
export function checkDueTime(ms: number, what: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new EdgecertError("invalid_input", `${what} must be a finite number of epoch ms, got ${String(ms)}`);
  return Math.floor(ms);
}

/** Checks a `due` limit: a positive integer. */
export function checkDueLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new EdgecertError("invalid_input", `due limit must be a positive integer, got ${String(limit)}`);
  return limit;
}

/** Checks `setDue` arguments: an id that follows the key rules and a finite time (floored to whole ms). */
export function checkDueEntry(id: string, dueAtMs: number): number {
  assertValidKey(id, "due id");
  return checkDueTime(dueAtMs, "dueAtMs");
}
