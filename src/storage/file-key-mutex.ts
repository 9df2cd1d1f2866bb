/// <reference types="node" />
import { link, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import process from "node:process";
import { basename, dirname, join } from "node:path";
import { EdgecertError } from "../errors.ts";
import { toHex } from "../webcrypto/bytes.ts";
import { errnoCode, fsError, readIfExists, writeNew } from "./file-io.ts";

/** What a key's mutex file holds. */
interface MutexRecord {
  owner: string;
  pid: number;
  host: string;
  /** Epoch ms when it was taken. */
  at: number;
}

/**
 * A holder older than this is taken over even when it cannot be seen dead (another host, or a pid
 * that was reused): one check-and-write takes milliseconds, so a holder this old is gone or stuck.
 */
export const STALE_MUTEX_MS = 60_000;
/** How long an empty or unreadable mutex file counts as held: its creator may be between create and write. */
const UNWRITTEN_GRACE_MS = 5_000;
/** How long to wait for a key's mutex before giving up with `EdgecertError("storage")`. */
const WAIT_MS = 120_000;
const HOST = hostname();
const encoder = new TextEncoder();

/**
 * Runs `fn` holding the cross-process mutex of file `target` (one key of a {@link FileStorage}): a
 * file `.w-<name>` beside it, created with exclusive create (`wx`) so that exactly one process on the
 * file system holds it, and removed afterwards. This is what makes a compare-and-set (`ifVersion`) or a
 * fenced write in one process exclusive against the same key's writes in other processes.
 *
 * Crash while holding it: a mutex whose owner process is gone (same host: its pid no longer exists) or
 * that is older than {@link STALE_MUTEX_MS} is taken over. The takeover first renames the file to a name
 * of its own — only one contender's rename can move a given file — and checks that what it moved is the
 * stale file it judged; if a new holder had created the file in between, it is put back (`link`, which
 * never replaces a file).
 */
export async function withKeyMutex<T>(target: string, fn: () => Promise<T>): Promise<T> {
  const path = await mutexPath(target);
  const record: MutexRecord = { owner: crypto.randomUUID(), pid: process.pid, host: HOST, at: Date.now() };
  const deadline = Date.now() + WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await writeNew(path, encoder.encode(JSON.stringify({ ...record, at: Date.now() })));
      break;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw error instanceof EdgecertError ? error : fsError("create the write mutex", path, error);
    }
    const held = await readMutex(path);
    if (held && isStale(held)) await takeOver(path, held);
    else if (Date.now() > deadline) throw new EdgecertError("storage", `file storage: the write mutex ${path} stayed held for ${WAIT_MS} ms`);
    else await new Promise((r) => setTimeout(r, Math.min(50, 1 + attempt) * (0.5 + Math.random())));
  }
  try {
    return await fn();
  } finally {
    // Only our own file is removed: after a takeover (we were judged stale) the file is another's.
    const now = await readMutex(path).catch(() => undefined);
    if (now?.record?.owner === record.owner) await unlink(path).catch(() => undefined);
  }
}

/** The mutex file for `target`, hashed when the name would be too long for a file name. */
async function mutexPath(target: string): Promise<string> {
  const name = basename(target);
  if (name.length <= 200) return join(dirname(target), `.w-${name}`);
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(name));
  return join(dirname(target), `.w-#${toHex(digest)}`);
}

/** The mutex file's record (undefined while its creator is still writing it) and age, or undefined if gone. */
async function readMutex(path: string): Promise<{ raw: string; record?: MutexRecord; modifiedAt: number } | undefined> {
  const bytes = await readIfExists(path);
  if (bytes === undefined) return undefined;
  const raw = new TextDecoder().decode(bytes);
  let record: MutexRecord | undefined;
  try {
    const v = JSON.parse(raw) as Partial<MutexRecord> | null;
    if (v && typeof v.owner === "string" && typeof v.pid === "number" && typeof v.host === "string" && typeof v.at === "number") record = v as MutexRecord;
  } catch {
    // empty or half-written
  }
  if (record) return { raw, record, modifiedAt: record.at };
  try {
    return { raw, modifiedAt: (await stat(path)).mtimeMs };
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw fsError("stat", path, error);
  }
}

function isStale(held: { record?: MutexRecord; modifiedAt: number }): boolean {
  const age = Date.now() - held.modifiedAt;
  if (!held.record) return age > UNWRITTEN_GRACE_MS;
  if (age > STALE_MUTEX_MS) return true;
  return held.record.host === HOST && !processAlive(held.record.pid);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === "EPERM"; // exists, owned by someone else
  }
}

/** Removes the stale mutex file `held` names, unless another holder replaced it meanwhile (then it is put back). */
async function takeOver(path: string, held: { raw: string }): Promise<void> {
  const taken = `${path}.stale-${crypto.randomUUID()}`;
  try {
    await rename(path, taken);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return; // released or taken over by another: try again
    throw fsError("take over the write mutex", path, error);
  }
  const moved = await readIfExists(taken);
  if (moved !== undefined && new TextDecoder().decode(moved) !== held.raw) {
    // A live holder's file: give it back. link() fails rather than replace a file created since.
    await link(taken, path).catch(() => undefined);
  }
  await unlink(taken).catch(() => undefined);
}
