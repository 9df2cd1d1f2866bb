/// <reference types="node" />
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "./storage.ts";
import { assertValidKey, assertValidPrefix } from "./keys.ts";
import { compareKeys, decodeKeyCursor, pageOfSortedKeys } from "./list-page.ts";
import { acquireWithin, lockSettings } from "./lock-wait.ts";
import { valueBytes } from "./value-bytes.ts";
import { decodeSegment, DIR_MARK, encodeSegment, keyPath } from "./file-names.ts";
import { ensureDir, errnoCode, fsError, readIfExists, readWithIdentity, removeIfExists, syncDir, writeAtomic } from "./file-io.ts";
import { FileLocks } from "./file-locks.ts";
import { withKeyMutex } from "./file-key-mutex.ts";
import { checkConditionsLocally, checkVersion, leaseLost } from "./conditional-write.ts";

/** Writes in flight per file path in this process; across processes, {@link withKeyMutex} orders them. */
const writing = new Map<string, Promise<unknown>>();

/** Options for {@link FileStorage}. */
export interface FileStorageOptions {
  /** Directory that holds everything (created with mode 0700 if missing). Relative paths resolve against the working directory. */
  dir: string;
}

/** Directory under the root that holds lock state; keys never map to a name starting with `.`. */
const LOCKS_DIR = ".locks";

/**
 * {@link Storage} in a local directory, for Node, Deno and Bun (`node:fs/promises`). Import it from
 * `edgecert/storage/file`: it is kept out of the main entry points, which must load in Workers.
 *
 * Layout: one file per key; key `certs/example.com/cert.json` is the file
 * `certs~/example.com~/cert.json` (see `file-names.ts`: directories carry `~`, and characters outside
 * `A-Za-z0-9._-` are percent-encoded). Files are created with mode 0600 and directories with 0700.
 *
 * Consistency: strong on one machine. Each key's conditional writes (`ifVersion`, `fence`) are checked
 * and done holding that key's mutex file (`.w-<name>`, exclusive create; see `file-key-mutex.ts`), so
 * they exclude each other across every process sharing the directory; a holder that crashed is taken
 * over once its pid is gone (or after a minute). `put` writes a temp file in the target's directory, flushes it
 * and renames it over the target, so a reader (or a crash) sees the old value or the new one, never
 * part of one. `list` reads the directory tree, so it reflects every completed `put` and `delete`.
 *
 * Locks: lease files created with exclusive create (`wx`) under `.locks/`, numbered by fencing token,
 * so at most one contender takes over a lapsed lease; see {@link FileLocks}. Several processes may
 * share a directory; across machines that needs a file system with atomic exclusive create and rename
 * and clocks in step. On a case-insensitive file system, keys differing only in case collide.
 */
export class FileStorage implements Storage {
  readonly #root: string;
  readonly #locks: FileLocks;

  /**
   * Storage in a directory.
   * @param options The directory (created 0700 when missing).
   */
  constructor(options: FileStorageOptions) {
    this.#root = resolve(options.dir);
    this.#locks = new FileLocks(join(this.#root, LOCKS_DIR));
  }

  /** The directory this storage lives in (absolute). */
  get dir(): string {
    return this.#root;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return await readIfExists(this.#path(key).file);
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    const found = await readWithIdentity(this.#path(key).file);
    return found === undefined ? undefined : { value: found.bytes, version: found.identity };
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    const { dir, name, file } = this.#path(key);
    const bytes = valueBytes(value);
    checkConditionsLocally(when);
    await ensureDir(dir, this.#root);
    await this.#alone(file, async () => {
      await this.#check(key, file, when);
      await writeAtomic(dir, name, bytes);
    });
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    const { dir, file } = this.#path(key);
    checkConditionsLocally(when);
    await ensureDir(dir, this.#root);
    await this.#alone(file, async () => {
      await this.#check(key, file, when);
      // Directories are left in place: removing one could race a concurrent put into it.
      await removeIfExists(file);
      await syncDir(dir);
    });
  }

  /** Runs one write of `file` after every earlier one in this process, holding the key's cross-process mutex. */
  async #alone(file: string, write: () => Promise<void>): Promise<void> {
    const before = writing.get(file) ?? Promise.resolve();
    const run = before.then(() => withKeyMutex(file, write));
    const settled = run.catch(() => undefined);
    writing.set(file, settled);
    try {
      await run;
    } finally {
      if (writing.get(file) === settled) writing.delete(file);
    }
  }

  /** The backend-side check of `when`, inside the key's exclusive section. */
  async #check(key: string, file: string, when: WriteConditions | undefined): Promise<void> {
    if (when?.fence && !(await this.#locks.holds(when.fence.name, when.fence.token))) throw leaseLost(when.fence);
    if (when?.ifVersion !== undefined) checkVersion(key, (await readWithIdentity(file))?.identity, when.ifVersion);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    assertValidPrefix(prefix);
    const after = options?.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
    // Start at the deepest directory the prefix names in full; nothing outside it can match.
    const segments = prefix.split("/");
    segments.pop();
    if (segments.some((s) => s === "" || s === "." || s === "..")) return pageOfSortedKeys([], prefix, options);
    const keys: string[] = [];
    const start = join(this.#root, ...segments.map((s) => encodeSegment(s) + DIR_MARK));
    await this.#walk(start, segments.join("/"), prefix, after, keys);
    return pageOfSortedKeys(keys.sort(compareKeys), prefix, options);
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const settings = lockSettings(name, options);
    return await acquireWithin(name, settings, () => this.#locks.tryLock(name, settings.ttlMs));
  }

  /** Collects keys under `dir` (which holds the keys below `base`) that start with `prefix` and come after `after`. */
  async #walk(dir: string, base: string, prefix: string, after: string | undefined, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      // Missing, or a prefix no key can have (a segment too long for a file name): no keys.
      if (["ENOENT", "ENOTDIR", "ENAMETOOLONG"].includes(errnoCode(error) ?? "")) return;
      throw fsError("list", dir, error);
    }
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue; // temp files, lock state
      const isDir = entry.isDirectory();
      const encoded = isDir ? (entry.name.endsWith(DIR_MARK) ? entry.name.slice(0, -DIR_MARK.length) : undefined) : entry.name;
      const segment = encoded === undefined ? undefined : decodeSegment(encoded);
      if (segment === undefined) continue; // not a name FileStorage made
      const key = base === "" ? segment : `${base}/${segment}`;
      if (isDir) {
        const below = `${key}/`;
        if (below.startsWith(prefix) || prefix.startsWith(below)) await this.#walk(join(dir, entry.name), key, prefix, after, out);
      } else if (entry.isFile() && key.startsWith(prefix) && (after === undefined || key > after)) {
        out.push(key);
      }
    }
  }

  #path(key: string): { dir: string; name: string; file: string } {
    assertValidKey(key);
    const { dirs, file } = keyPath(key);
    const dir = join(this.#root, ...dirs);
    return { dir, name: file, file: join(dir, file) };
  }
}
