/** Bytes of a value handed to `Storage.put`: text as UTF-8, bytes copied (the caller may reuse its array). */
export function valueBytes(value: Uint8Array | string): Uint8Array<ArrayBuffer> {
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (!(value instanceof Uint8Array)) throw new TypeError("storage values must be a Uint8Array or a string");
  return new Uint8Array(value);
}
