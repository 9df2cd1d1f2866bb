import type { Bytes } from "../webcrypto/web-types.ts";

const encoder = new TextEncoder();

/**
 * Bytes of a value handed to `Storage.put`: text as UTF-8, bytes copied (the caller may reuse its
 * array). The result owns its whole `ArrayBuffer`, so `.buffer` can be handed to bindings as is.
 */
export function valueBytes(value: Uint8Array | string): Bytes {
  if (typeof value === "string") {
    const bytes = encoder.encode(value) as Uint8Array<ArrayBuffer>;
    return bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  }
  if (!(value instanceof Uint8Array)) throw new TypeError("storage values must be a Uint8Array or a string");
  return new Uint8Array(value);
}
