import { EdgecertError } from "../errors.ts";

/** Longest key or lock name, in characters (= bytes: keys are ASCII). Workers KV's limit. */
export const MAX_KEY_LENGTH = 512;

/**
 * Throws `EdgecertError("invalid_input")` unless `key` is a storage key every backend can hold: 1 to
 * 512 printable ASCII characters, `/`-separated segments that are neither empty, `.` nor `..`, no
 * backslash. The rules are the same for every backend so that data can move between them, and they
 * make a key safe to map onto a file path.
 */
export function assertValidKey(key: string, what = "storage key"): void {
  if (typeof key !== "string" || key.length === 0) throw invalid(what, key, "must be a non-empty string");
  if (key.length > MAX_KEY_LENGTH) throw invalid(what, key, `is longer than ${MAX_KEY_LENGTH} characters`);
  checkCharacters(key, what);
  for (const segment of key.split("/")) {
    if (segment === "") throw invalid(what, key, "has an empty segment (leading, trailing or double '/')");
    if (segment === "." || segment === "..") throw invalid(what, key, `has a '${segment}' segment`);
  }
}

/** Like {@link assertValidKey} for a `list` prefix, which may be empty or end in the middle of a segment. */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== "string") throw invalid("list prefix", prefix, "must be a string");
  if (prefix.length > MAX_KEY_LENGTH) throw invalid("list prefix", prefix, `is longer than ${MAX_KEY_LENGTH} characters`);
  checkCharacters(prefix, "list prefix");
  if (prefix.startsWith("/")) throw invalid("list prefix", prefix, "starts with '/'");
}

function checkCharacters(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // Printable ASCII only: control characters, NUL and non-ASCII have no portable file name.
    if (c < 0x20 || c > 0x7e) throw invalid(what, value, `has a character outside printable ASCII at index ${i}`);
    if (c === 0x5c) throw invalid(what, value, "has a backslash");
  }
}

function invalid(what: string, value: unknown, why: string): EdgecertError {
  const shown = typeof value === "string" ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value);
  return new EdgecertError("invalid_input", `${what} ${shown} ${why}`);
}
