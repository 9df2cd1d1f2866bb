/// <reference types="node" />
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { EdgecertError } from "../errors.ts";

/** Mode of every file FileStorage writes: owner read/write only (values include private keys). */
export const FILE_MODE = 0o600;
/** Mode of every directory FileStorage creates. */
export const DIR_MODE = 0o700;
/** Name prefix of in-flight temp files; keys never produce a name starting with `.`. */
export const TEMP_PREFIX = ".tmp-";

/** The `node:fs/promises` calls FileStorage's reads and writes (and its lease and mutex files) go through. */
export interface FileSystemCalls {
  mkdir: typeof mkdir;
  open: typeof open;
  readFile: typeof readFile;
  rename: typeof rename;
  unlink: typeof unlink;
}

const NODE_CALLS: FileSystemCalls = { mkdir, open, readFile, rename, unlink };
let fs: FileSystemCalls = NODE_CALLS;

/**
 * Internal seam for tests, exported from no entry point: FileStorage's file-system calls go through
 * `calls` until the returned function restores `node:fs/promises`. Nothing else changes; the power-cut
 * test (test/storage/file-power-cut.test.ts) records the calls to replay them onto a model disk.
 */
export function routeFileSystemCalls(calls: FileSystemCalls): () => void {
  fs = calls;
  return () => {
    fs = NODE_CALLS;
  };
}

/** The `code` of a Node file-system error (`ENOENT`, `EEXIST`, ...), if it has one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Wraps a file-system failure as `EdgecertError("storage")`, keeping the original as `cause`. */
export function fsError(action: string, path: string, cause: unknown): EdgecertError {
  return new EdgecertError("storage", `file storage could not ${action} ${path}: ${errnoCode(cause) ?? String(cause)}`, { cause });
}

/** Directories whose entries up to their storage root this process has flushed (or is flushing). */
const durableDirs = new Map<string, Promise<void>>();

/**
 * Creates `dir` and missing parents with mode 0700, and makes the path to it durable: a new
 * directory is only an entry in its parent until that parent is flushed, so without this a power cut
 * can lose a directory — and every file renamed into it — after the write was reported done. Each
 * directory between `root` and `dir` is flushed once per process (the first time this process uses
 * `dir`, and whenever it creates part of the path), and every caller waits for that flush: a
 * concurrent put into a directory another put just created cannot report done before it is durable.
 * Without `root`, only the parents of directories this call created are flushed.
 */
export async function ensureDir(dir: string, root?: string): Promise<void> {
  let created: string | undefined;
  try {
    created = await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (error) {
    throw fsError("create directory", dir, error);
  }
  let flushing = durableDirs.get(dir);
  if (created === undefined && flushing) return await flushing;
  if (created === undefined && root === undefined) return;
  // The topmost directory whose own entry must be flushed: the first one created, else the root.
  flushing = flushPath(dir, created ?? root ?? dir);
  durableDirs.set(dir, flushing);
  flushing.catch(() => durableDirs.delete(dir));
  await flushing;
}

/** Flushes the parent of every directory from `dir` up to `top` (an ancestor of `dir`, or itself). */
async function flushPath(dir: string, top: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    await syncDir(dirname(d));
    if (d === top || dirname(d) === d) return;
  }
}

/** The file's bytes, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    const buf = await fs.readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw fsError("read", path, error);
  }
}

/**
 * The file's bytes and an identity of this very file: `<inode>-<mtime ms>-<SHA-256 prefix of the
 * bytes>`, or undefined when it does not exist. Bytes and identity come from one open handle, so they
 * belong together even while the file is being replaced.
 */
export async function readWithIdentity(path: string): Promise<{ bytes: Uint8Array<ArrayBuffer>; identity: string } | undefined> {
  let handle;
  try {
    handle = await fs.open(path, "r");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw fsError("read", path, error);
  }
  try {
    const stats = await handle.stat();
    const buf = await handle.readFile();
    const bytes = new Uint8Array(buf.byteLength);
    bytes.set(buf);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    let hash = "";
    for (const b of digest.subarray(0, 12)) hash += b.toString(16).padStart(2, "0");
    return { bytes, identity: `${stats.ino.toString(36)}-${stats.mtimeMs.toString(36)}-${hash}` };
  } catch (error) {
    throw fsError("read", path, error);
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `dir/name` with `bytes` atomically: the bytes go to a fresh temp file in the same directory
 * (same file system, so the rename cannot be a copy), are flushed to disk, then renamed over the
 * target. Readers see the old file or the new one, never a partial write.
 */
export async function writeAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dir, `${TEMP_PREFIX}${crypto.randomUUID()}`);
  const target = join(dir, name);
  try {
    await writeNew(temp, bytes);
    await fs.rename(temp, target);
  } catch (error) {
    await fs.unlink(temp).catch(() => undefined);
    throw error instanceof EdgecertError ? error : fsError("write", target, error);
  }
  // The rename is only durable once the directory entry is: without this, a power cut can bring the
  // old file back after the write was reported done.
  await syncDir(dir);
}

/**
 * Flushes a directory's entries (renames, creates, deletes in it) to disk. Where a directory cannot
 * be opened for that (Windows), this is a no-op: there the file system orders metadata itself.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, "r");
  } catch (error) {
    if (["EISDIR", "EPERM", "EACCES", "ENOENT"].includes(errnoCode(error) ?? "")) return;
    throw fsError("open directory", dir, error);
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!["EINVAL", "EBADF", "EPERM", "ENOTSUP"].includes(errnoCode(error) ?? "")) throw fsError("sync directory", dir, error);
  } finally {
    await handle.close();
  }
}

/**
 * Creates `path` exclusively (`wx`: fails with `EEXIST` when it exists) with mode 0600, writes
 * `bytes` and flushes them. The file exists, possibly still empty, as soon as the create returns.
 */
export async function writeNew(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(path, "wx", FILE_MODE);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Deletes `path`; a missing file is fine. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw fsError("delete", path, error);
  }
}
