/** Options for {@link Storage.list}. */
export interface StorageListOptions {
  /** Cursor from the previous page's result. */
  cursor?: string;
  /** Most keys in one page (backends may return fewer). Default 1000. */
  limit?: number;
}

/** One page of keys, in lexicographic order. */
export interface StorageListResult {
  /** The keys, sorted. */
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
  /** The lock's name. */
  readonly name: string;
  /** Its fencing token: grows with every acquisition. */
  readonly token: number;
  /** Epoch ms when the lease lapses unless renewed. */
  readonly expiresAt: number;
  /** Releases the lease; a no-op when it already lapsed or was taken over. */
  release(): Promise<void>;
  /** Extends the lease; throws `EdgecertError("storage")` when it was lost (lapsed, taken over or released). */
  renew(ttlMs?: number): Promise<void>;
}

/** A stored value together with the version a conditional write can name. */
export interface StorageEntry {
  /** The stored bytes. */
  readonly value: Uint8Array;
  /**
   * Opaque; compare only for equality, and only for the same key of the same storage. Every write of
   * the key gets a version no earlier write of it had — also rewriting the same bytes, after a delete +
   * recreate, and **whatever data the backend loses** (a restart without persistence, a failover to a
   * replica that lagged, an older snapshot or point-in-time recovery restored). So a compare-and-set
   * naming a version succeeds only on exactly the write its caller read (which a restored snapshot may
   * legitimately bring back), never on a different one (a lost update).
   *
   * Why each backend keeps this: a counter or an epoch stored in the backend's own data goes back with
   * that data, so it cannot be the guarantee. Backends that count (Redis `INCR`, the PostgreSQL
   * sequence, the Durable Object's counter, which also backs `KvStorage`) append 96 random bits drawn by
   * the writer at the moment of the write (`<n>.<nonce>`); Deno KV appends the writer's nonce to the
   * versionstamp (a commit counter kept in the store: a restored store counts on from its old value).
   * Records written before the nonce keep their bare number until written again; no new write gets a
   * bare number, so it never matches one. `FileStorage`'s version is the file's inode, mtime and a
   * SHA-256 prefix of its bytes: only a file with exactly the bytes read, at that inode and mtime, has it.
   * `R2Storage`'s is the etag plus R2's own object version, an id R2 draws for every upload. Within one
   * `MemoryStorage` nothing is lost; a new instance is a new storage.
   *
   * Fencing tokens ({@link Lease.token}) must be ordered, so they cannot be random: a new token is at
   * least the backend's clock in ms (Redis' and PostgreSQL's server clock, the Durable Object's and Deno
   * KV's instance clock) as well as one more than the last, so it outgrows every token handed out before
   * the data went back — as long as that clock does not go back further than the data did. `FileStorage`
   * and `R2Storage` number leases by exclusive create / conditional put of the next number, which needs
   * every contender to name the same next number, so their tokens count by one: restoring an older copy
   * of their lock files while a lease is live could hand its token out again (R2 has no such restore;
   * for a file store, restore `.locks/` only with every edgecert process stopped for longer than the
   * longest lease).
   */
  readonly version: string;
}

/** The lease a write is fenced by: a {@link Lease} is one. */
export interface Fence {
  /** The lock's name. */
  readonly name: string;
  /** The fencing token writes must carry. */
  readonly token: number;
}

/**
 * Conditions on {@link Storage.put} and {@link Storage.delete}. Every condition given must hold, or the
 * write is refused with a typed error and nothing changes (value and version stay as they were). Each
 * backend checks them atomically with the write where it can and documents its guarantee.
 *
 * When both fail, the fence is reported (`lease_lost`), not the version.
 */
export interface WriteConditions {
  /**
   * `"v"`: write only when the key's current version is `"v"`; `null`: only when the key is absent.
   * Otherwise the write is refused with `EdgecertError("conflict")` and nothing changes.
   */
  ifVersion?: string | null;
  /**
   * Write only while lock `fence.name` is currently held with this same `fence.token` and its lease
   * has not expired, as the backend sees it. A lease that lapsed (even if nobody took the lock over
   * yet), was released or was taken over cannot write: the write is refused with
   * `EdgecertError("lease_lost")` and nothing changes. When `fence` is a {@link Lease}, its
   * `expiresAt` is also checked against the local clock before anything is sent.
   */
  fence?: Fence;
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
  /**
   * The value at `key` with its version, or undefined. Pass the version as `ifVersion` to write the
   * key only if nobody wrote it since (compare-and-set).
   */
  getEntry(key: string): Promise<StorageEntry | undefined>;
  /**
   * Stores `value` (text is stored as UTF-8) atomically, when every condition in `when` holds;
   * otherwise rejects with `EdgecertError("conflict")` / `EdgecertError("lease_lost")` and changes
   * nothing. Every successful write gives the key a new version.
   */
  put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void>;
  /**
   * Deletes `key` when every condition in `when` holds (refusals as for `put`); deleting a missing key
   * is not an error (with `ifVersion: null` it is the only way to succeed).
   */
  delete(key: string, when?: WriteConditions): Promise<void>;
  /** Keys starting with `prefix`, a page at a time. */
  list(prefix: string, options?: StorageListOptions): Promise<StorageListResult>;
  /** Acquires an exclusive lease on `name`, waiting up to `waitMs`. */
  lock(name: string, options?: LockOptions): Promise<Lease>;
}
