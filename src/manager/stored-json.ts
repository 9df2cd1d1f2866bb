import { EdgecertError } from "../errors.ts";
import type { Fence, Storage, WriteConditions } from "../storage/storage.ts";

/** A JSON value read from storage with the version a conditional write can name. */
export interface Versioned<T> {
  value: T;
  /** Undefined only for a value not read from storage (just written, version not re-read). */
  version: string | undefined;
}

/** Reads and parses `key`; a value that is not JSON is a typed `storage` error, never a crash. */
export async function readJson<T>(storage: Storage, key: string): Promise<Versioned<T> | undefined> {
  const entry = await storage.getEntry(key);
  if (entry === undefined) return undefined;
  const { value: bytes, version } = entry;
  try {
    return { value: JSON.parse(new TextDecoder().decode(bytes)) as T, version };
  } catch (cause) {
    throw new EdgecertError("storage", `stored value ${key} is not valid JSON`, { cause });
  }
}

/**
 * The conditions for replacing exactly what `read` saw (a compare-and-set on its version; `undefined`
 * means the key was absent), fenced by `fence` when the write is done under a lock.
 */
export function replacing(storage: Storage, read: Versioned<unknown> | undefined, fence: Fence | undefined): WriteConditions {
  const when: WriteConditions = {};
  if (fence) when.fence = { name: fence.name, token: fence.token };
  if (read?.version !== undefined) when.ifVersion = read.version;
  else if (!read) when.ifVersion = null;
  return when;
}

/** Writes `value` as JSON under `when`. */
export function writeJson(storage: Storage, key: string, value: unknown, when: WriteConditions): Promise<void> {
  return storage.put(key, JSON.stringify(value), when);
}
