import type { Storage } from "./storage.ts";

/** A storage that reads many keys in one operation (`DurableObjectStorage`: one request to its object). */
export interface ManyReads {
  /** The values of `keys`, in their order; undefined where a key has none. */
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>;
}

/**
 * The values of `keys`, in their order: in one operation where the storage can (see {@link ManyReads}),
 * else one `get` per key. Listings read a page of records this way, so a page costs a bounded number
 * of storage operations (on Workers, subrequests) whatever its size.
 */
export function readMany(storage: Storage, keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
  if (keys.length === 0) return Promise.resolve([]);
  const many = (storage as Partial<ManyReads>).getMany;
  return typeof many === "function" ? many.call(storage, keys) : Promise.all(keys.map((k) => storage.get(k)));
}
