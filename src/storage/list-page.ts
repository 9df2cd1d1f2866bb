import { EdgecertError } from "../errors.ts";
import type { StorageListOptions, StorageListResult } from "./storage.ts";
import { MAX_KEY_LENGTH } from "./keys.ts";

/** Default and largest page size (Workers KV and R2 cap a page at 1000 keys too). */
export const MAX_LIST_LIMIT = 1000;

/** The page size asked for in `options`, checked; `invalid_input` for a non-positive or fractional one. */
export function listLimit(options: StorageListOptions | undefined): number {
  const limit = options?.limit ?? MAX_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new EdgecertError("invalid_input", `list limit must be a positive integer, got ${String(limit)}`);
  }
  return Math.min(limit, MAX_LIST_LIMIT);
}

const CURSOR_TAG = "k1.";

/**
 * Cursor naming the last key of a page. Pages continue *after* that key, so keys added or deleted
 * between pages never repeat a key or shift the rest. Opaque to callers (base64url of the key).
 */
export function encodeKeyCursor(lastKey: string): string {
  return CURSOR_TAG + btoa(lastKey).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The key a cursor from {@link encodeKeyCursor} names; `invalid_input` for anything else. */
export function decodeKeyCursor(cursor: string): string {
  const bad = () => new EdgecertError("invalid_input", `not a list cursor from this storage: ${JSON.stringify(cursor.slice(0, 80))}`);
  if (typeof cursor !== "string" || !cursor.startsWith(CURSOR_TAG)) throw bad();
  const body = cursor.slice(CURSOR_TAG.length).replace(/-/g, "+").replace(/_/g, "/");
  let key: string;
  try {
    key = atob(body + "=".repeat((4 - (body.length % 4)) % 4));
  } catch {
    throw bad();
  }
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw bad();
  return key;
}

/**
 * One page of `sortedKeys` (ascending, unique) that start with `prefix`, after the cursor's key. The
 * keys may begin anywhere before the page (`pageStart` says where a page can begin, to start there);
 * reading stops at the first key past the prefix.
 */
export function pageOfSortedKeys(sortedKeys: Iterable<string>, prefix: string, options: StorageListOptions | undefined): StorageListResult {
  const limit = listLimit(options);
  const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
  const keys: string[] = [];
  let more = false;
  for (const key of sortedKeys) {
    if (!key.startsWith(prefix)) {
      // Keys with the prefix sort together, from the prefix itself on.
      if (compareKeys(key, prefix) > 0) break;
      continue;
    }
    if (after !== undefined && key <= after) continue;
    if (keys.length === limit) {
      more = true;
      break;
    }
    keys.push(key);
  }
  const last = keys[keys.length - 1];
  return more && last !== undefined ? { keys, cursor: encodeKeyCursor(last) } : { keys };
}

/** The first key a page of `prefix` after `options`' cursor can hold (or a key below it). */
export function pageStart(prefix: string, options: StorageListOptions | undefined): string {
  const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
  return after !== undefined && compareKeys(after, prefix) > 0 ? after : prefix;
}

/** Compares strings by UTF-16 code units, which for ASCII keys is byte order (what KV, R2 and SQLite use). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Wraps a backend's own list cursor (KV, R2) with a tag, so a cursor from elsewhere is caught early. */
export function wrapNativeCursor(tag: string, cursor: string): string {
  return `${tag}.${cursor}`;
}

/** The backend cursor inside {@link wrapNativeCursor}'s output; `invalid_input` for anything else. */
export function unwrapNativeCursor(tag: string, cursor: string): string {
  if (typeof cursor !== "string" || !cursor.startsWith(`${tag}.`) || cursor.length === tag.length + 1) {
    throw new EdgecertError("invalid_input", `not a list cursor from this storage: ${JSON.stringify(String(cursor).slice(0, 80))}`);
  }
  return cursor.slice(tag.length + 1);
}
