import { EdgecertError } from "../errors.ts";

/**
 * How {@link FileStorage} names files. A key segment keeps `A-Z a-z 0-9 . _ -` and percent-encodes
 * every other character (and a leading `.`), so no key can name a hidden file, a temp file or the
 * lock directory, and foreign characters never reach the file system. The file holding key `a/b` is
 * `a~/b`: directories carry a `~` (always encoded inside a segment), so keys `a` and `a/b` can both
 * exist, as they can in every other backend.
 */

const SAFE = /[A-Za-z0-9._-]/;
/** Largest file name most file systems take (ext4, APFS, NTFS: 255 bytes). */
const MAX_NAME = 255;

/** Suffix of a directory holding the keys below one segment. */
export const DIR_MARK = "~";

/** The file-name form of one key segment (or of a whole lock name, `/` included). */
export function encodeSegment(segment: string): string {
  let out = "";
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i]!;
    out += SAFE.test(ch) && !(i === 0 && ch === ".") ? ch : `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The segment a file name encodes, or undefined for a name {@link encodeSegment} never makes. */
export function decodeSegment(name: string): string | undefined {
  const decoded = name.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return decoded.length > 0 && encodeSegment(decoded) === name ? decoded : undefined;
}

/** File-system path parts (relative to the root) of the directory and file holding `key`. */
export function keyPath(key: string): { dirs: string[]; file: string } {
  const segments = key.split("/");
  const names = segments.map((segment) => {
    const name = encodeSegment(segment);
    if (name.length + DIR_MARK.length > MAX_NAME) {
      throw new EdgecertError("invalid_input", `key segment "${segment.slice(0, 40)}…" is too long for FileStorage (${name.length} bytes once encoded, at most ${MAX_NAME - DIR_MARK.length})`);
    }
    return name;
  });
  const file = names.pop()!;
  return { dirs: names.map((name) => name + DIR_MARK), file };
}
