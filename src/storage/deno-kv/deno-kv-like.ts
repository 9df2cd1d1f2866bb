/** A Deno KV key: an array of parts (the subset of `Deno.KvKey` edgecert uses). */
export type KvKeyLike = readonly (string | number)[];

/** One entry read from Deno KV; `versionstamp` is null when the key does not exist. */
export interface KvEntryLike {
  /** The entry's key. */
  readonly key: readonly unknown[];
  /** Its value, or null when absent. */
  readonly value: unknown;
  /**  null;|Its versionstamp, or null when absent. */
  readonly versionstamp: string | null;
}

/** The part of `Deno.AtomicOperation` used. */
export interface KvAtomicLike {
  /** Fails the commit unless each key has this versionstamp (null: absent). */
  check(...checks: { key: KvKeyLike; versionstamp: string | null }[]): KvAtomicLike;
  /** Sets a key in the transaction. */
  set(key: KvKeyLike, value: unknown): KvAtomicLike;
  /** Deletes a key in the transaction. */
  delete(key: KvKeyLike): KvAtomicLike;
  /** Commits; `ok: false` when a check failed. */
  commit(): Promise<{ ok: boolean; versionstamp?: string }>;
}

/**
 * The part of `Deno.Kv` (from `Deno.openKv()`, local with `--unstable-kv` or on Deno Deploy) that
 * {@link DenoKvStorage} uses, typed structurally so edgecert builds without Deno's types.
 */
export interface DenoKvLike {
  /** Reads one entry. */
  get(key: KvKeyLike): Promise<KvEntryLike>;
  /** Writes one entry. */
  set(key: KvKeyLike, value: unknown): Promise<unknown>;
  /** Deletes one entry. */
  delete(key: KvKeyLike): Promise<void>;
  /** Lists entries by range or prefix. */
  list(selector: { start: KvKeyLike; end: KvKeyLike } | { prefix: KvKeyLike }, options?: { limit?: number }): AsyncIterable<KvEntryLike>;
  /** Starts an atomic operation. */
  atomic(): KvAtomicLike;
}
