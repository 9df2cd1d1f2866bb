import { EdgecertError } from "../errors.ts";
import { assertValidKey } from "./keys.ts";
import type { Fence, Storage } from "./storage.ts";
import { checkConditions } from "./conditional-write.ts";

/** One entry of a {@link DueIndex}: an id and when it falls due. */
export interface DueEntry {
  /** The certificate id. */
  readonly id: string;
  /** Epoch ms. */
  readonly dueAtMs: number;
}

/** Conditions on a {@link DueIndex} write. */
export interface DueWriteOptions {
  /**
   * Write only while this lease holds its lock, checked atomically with the write as for
   * {@link WriteConditions.fence}; otherwise `EdgecertError("lease_lost")` and nothing changes. A holder
   * whose lease lapsed can then never move an entry later than the record a newer holder wrote.
   */
  fence?: Fence;
  /**
   * Only move the entry earlier (or create it): an existing earlier entry is kept. Lets a writer lower
   * the entry before it writes a record, so that a crash between the two leaves an entry no later than
   * either record's due time.
   */
  earlierOnly?: boolean;
}

/**
 * An index of ids ordered by the time they fall due, kept by the storage backend so that a renewal pass
 * reads only what is due (O(due)) instead of every record (O(all)). A {@link Storage} may also implement
 * it; {@link dueIndexOf} tells. Entries are hints for a scheduler, not records: the manager re-reads the
 * record before it acts, so an entry that is stale or missing costs at most one extra read or one pass.
 */
export interface DueIndex {
  /** Sets (or moves) `id`'s due time, under `options`' conditions. Ids follow the storage key rules. */
  setDue(id: string, dueAtMs: number, options?: DueWriteOptions): Promise<void>;
  /** Removes `id` from the index (fenced like `setDue` when `options.fence`); removing a missing id is not an error. */
  clearDue(id: string, options?: Pick<DueWriteOptions, "fence">): Promise<void>;
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

/** Checks `setDue` arguments: an id that follows the key rules, a finite time (floored to whole ms), well-formed options. */
export function checkDueEntry(id: string, dueAtMs: number, options?: DueWriteOptions): number {
  assertValidKey(id, "due id");
  checkDueOptions(options);
  return checkDueTime(dueAtMs, "dueAtMs");
}

/** Checks the shape of {@link DueWriteOptions} (a malformed fence is `invalid_input`). */
export function checkDueOptions(options: DueWriteOptions | undefined): void {
  if (options?.fence !== undefined) checkConditions({ fence: options.fence });
}

/** The refusal of a due-index write whose fence no longer holds. */
export function dueLeaseLost(id: string, fence: Fence): EdgecertError {
  return new EdgecertError("lease_lost", `due-index write of "${id}" refused: lease on "${fence.name}" (token ${fence.token}) lapsed or was taken over`);
}
