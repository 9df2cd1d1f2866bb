/** A Deno KV key: an array of parts (the subset of `Deno.KvKey` edgecert uses). */
export type KvKeyLike = readonly (string | number)[];

/** One entry read from Deno KV; `versionstamp` is null when the key does not exist. */
export interface KvEntryLike {
  readonly key: readonly unknown[];
  readonly value: unknown;
  readonly versionstamp: string | null;
}

/** The part of `Deno.AtomicOperation` used. */
export interface KvAtomicLike {
  check(...checks: { key: KvKeyLike; versionstamp: string | null }[]): KvAtomicLike;
  set(key: KvKeyLike, value: unknown): KvAtomicLike;
  delete(key: KvKeyLike): KvAtomicLike;
  commit(): Promise<{ ok: boolean; versionstamp?: string }>;
}

/**
 * The part of `Deno.Kv` (from `Deno.openKv()`, local with `--unstable-kv` or on Deno Deploy) that
 * {@link DenoKvStorage} uses, typed structurally so edgecert builds without Deno's types.
 */
export interface DenoKvLike {
  get(key: KvKeyLike): Promise<KvEntryLike>;
  set(key: KvKeyLike, value: unknown): Promise<unknown>;
  delete(key: KvKeyLike): Promise<void>;
  list(selector: { start: KvKeyLike; end: KvKeyLike } | { prefix: KvKeyLike }, options?: { limit?: number }): AsyncIterable<KvEntryLike>;
  atomic(): KvAtomicLike;
}
