import { EdgecertError } from "../errors.ts";
import type { Storage } from "./storage.ts";

// `ignoreBOM` spelled out: @cloudflare/workers-types declares it required.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The value at `key` as UTF-8 text, or undefined; `EdgecertError("storage")` if it is not valid UTF-8. */
export async function readText(storage: Storage, key: string): Promise<string | undefined> {
  const bytes = await storage.get(key);
  if (bytes === undefined) return undefined;
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new EdgecertError("storage", `stored value ${JSON.stringify(key)} is not valid UTF-8`, { cause });
  }
}

/**
 * The value at `key` parsed as JSON, or undefined; `EdgecertError("storage")` if it is not JSON. The
 * shape is not checked: `T` is the caller's claim, so validate data other writers may have produced.
 */
export async function readJson<T>(storage: Storage, key: string): Promise<T | undefined> {
  const text = await readText(storage, key);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new EdgecertError("storage", `stored value ${JSON.stringify(key)} is not valid JSON`, { cause });
  }
}

/** Stores `value` as JSON text; `EdgecertError("invalid_input")` for what JSON cannot carry (undefined, BigInt, cycles). */
export async function writeJson(storage: Storage, key: string, value: unknown): Promise<void> {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new EdgecertError("invalid_input", `value for ${JSON.stringify(key)} cannot be written as JSON: ${String(cause)}`, { cause });
  }
  if (text === undefined) throw new EdgecertError("invalid_input", `value for ${JSON.stringify(key)} cannot be written as JSON`);
  await storage.put(key, text);
}
