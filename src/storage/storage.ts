/** Options for {@link Storage.list}. */
export interface StorageListOptions {
  /** Cursor from the previous page's result. */
  cursor?: string;
  /** Most keys in one page (backends may return fewer). Default 1000. */
  limit?: number;
}

/** One page of keys, in lexicographic order. */
export interface StorageListResult {
  keys: string[];
  /** Pass back to get the next page; absent on the last page. */
  cursor?: string;
}

/** Options for {@link Storage.lock}. */
export interface LockOptions {
  /** How long the lease lasts unless renewed, in ms. Default 60 000. */
  ttlMs?: number;
  /** How long to keep trying to acquire before failing with `EdgecertError("storage")`. Default `ttlMs`. */
  waitMs?: number;
  /** Stops waiting: `lock` then rejects with `EdgecertError("aborted")` and holds nothing. */
  signal?: AbortSignal;
}

/**
 * A held lock. `token` is a fencing number that only grows across every lease of the same name, so
 * work done under a lease can be checked against newer holders.
 */
export interface Lease {
  readonly name: string;
  readonly token: number;
  /** Epoch ms when the lease lapses unless renewed. */
  readonly expiresAt: number;
  /** Releases the lease; a no-op when it already lapsed or was taken over. */
  release(): Promise<void>;
  /** Extends the lease; throws `EdgecertError("storage")` when it was lost (lapsed, taken over or released). */
  renew(ttlMs?: number): Promise<void>;
}

/**
 * Where edgecert keeps accounts, keys and certificates, with locking. Keys are `/`-separated paths of
 * printable ASCII: 1–512 characters, no backslash, no empty, `.` or `..` segment (so no leading or
 * trailing `/`); lock names follow the same rules, and backends reject others with
 * `EdgecertError("invalid_input")`. Each backend documents its consistency; `put` of one key is atomic
 * (a reader sees the old or the new value, never a mix).
 */
export interface Storage {
  /** The value stored at `key`, or undefined. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` (text is stored as UTF-8) atomically. */
  put(key: string, value: Uint8Array | string): Promise<void>;
  /** Deletes `key`; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, a page at a time. */
  list(prefix: string, options?: StorageListOptions): Promise<StorageListResult>;
  /** Acquires an exclusive lease on `name`, waiting up to `waitMs`. */
  lock(name: string, options?: LockOptions): Promise<Lease>;
}
