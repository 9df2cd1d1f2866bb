/// <reference types="node" />
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { toHex } from "../webcrypto/bytes.ts";
import type { Lease } from "./storage.ts";
import type { LockAttempt } from "./lock-wait.ts";
import { HeldLease, lapsed } from "./lease.ts";
import { encodeSegment } from "./file-names.ts";
import { ensureDir, errnoCode, fsError, readIfExists, removeIfExists, syncDir, writeAtomic, writeNew } from "./file-io.ts";

/** What a lease file holds. */
interface LeaseRecord {
  name: string;
  token: number;
  owner: string;
  /** Epoch ms; 0 once released. */
  expiresAt: number;
}

/** How long a lease file that is still empty or unparseable counts as held (its creator may have died between create and write). */
const UNWRITTEN_GRACE_MS = 5_000;
const LEASE_FILE = /^([1-9][0-9]{0,15})\.lease$/;
const encoder = new TextEncoder();

/**
 * Leases for {@link FileStorage}, one directory per lock name holding numbered lease files
 * (`<token>.lease`, JSON `{name, token, owner, expiresAt}`).
 *
 * - Taking a free, lapsed or released lock = creating the next number's file with `wx` (exclusive
 *   create). The file system lets exactly one contender create a given number, so two processes that
 *   both see a lapsed lease cannot both take it over, and the number is the fencing token: it only
 *   grows, with no separate counter to keep in step.
 * - The newest file is the lock's state and is never deleted; older ones are removed by the next
 *   holder. A contender that created a number from a stale directory listing sees a higher number
 *   afterwards and gives its file up.
 * - Renew and release rewrite the holder's own file atomically (temp file + rename) and re-check that
 *   no higher number appeared; a renew that lost that race reports the lease lost, and a contender
 *   that sees the previous lease renewed under it backs off, so at most one side keeps the lock.
 * - Expiry is judged by each process's own clock: processes sharing a directory over a network file
 *   system need synchronised clocks (and a file system with atomic exclusive create and rename).
 */
export class FileLocks {
  readonly #root: string;

  /** `root`: the directory all lock directories go in. */
  constructor(root: string) {
    this.#root = root;
  }

  /** One try at `name`: a lease, or when the current one lapses. */
  async tryLock(name: string, ttlMs: number): Promise<LockAttempt> {
    const dir = await this.#dir(name);
    await ensureDir(dir);
    const top = await newestToken(dir);
    let previous: string | undefined;
    if (top > 0) {
      const seen = await readLease(dir, top);
      // Cleaned up between listing and reading: a newer lease exists, look again.
      if (seen === undefined) return {};
      const heldUntil = seen.record ? seen.record.expiresAt : seen.modifiedAt + UNWRITTEN_GRACE_MS;
      if (heldUntil > Date.now()) return { heldUntil };
      previous = seen.raw;
    }

    const token = top + 1;
    const record: LeaseRecord = { name, token, owner: crypto.randomUUID(), expiresAt: Date.now() + ttlMs };
    try {
      await writeNew(join(dir, leaseFile(token)), encoder.encode(JSON.stringify(record)));
    } catch (error) {
      if (errnoCode(error) === "EEXIST") return {}; // another contender took this number first
      throw fsError("create lease file in", dir, error);
    }
    // The new number must survive a crash, or a restart could hand the same token out again.
    await syncDir(dir);

    // The previous holder renewed between our read and our create: leave it the lock.
    if (previous !== undefined) {
      const now = await readLease(dir, top);
      if (now?.record && now.raw !== previous && now.record.expiresAt > Date.now()) {
        await writeAtomic(dir, leaseFile(token), encoder.encode(JSON.stringify({ ...record, expiresAt: 0 })));
        return { heldUntil: now.record.expiresAt };
      }
    }
    // Our listing was stale and this number had been used and cleaned up: not ours to hold.
    if ((await newestToken(dir)) > token) {
      await removeIfExists(join(dir, leaseFile(token)));
      return {};
    }
    await this.#removeOlder(dir, token);
    return { lease: this.#lease(dir, record, ttlMs) };
  }

  /**
   * Whether lock `name` is held right now with `token`: that token is the newest lease file, it is not
   * released, and its expiry (by this process's clock) has not passed.
   */
  async holds(name: string, token: number): Promise<boolean> {
    const dir = await this.#dir(name);
    if ((await newestToken(dir)) !== token) return false;
    const current = await readLease(dir, token);
    return current?.record !== undefined && current.record.expiresAt > Date.now();
  }

  #lease(dir: string, held: LeaseRecord, ttlMs: number): Lease {
    const { name, token, owner } = held;
    const file = leaseFile(token);
    const ours = async () => {
      const current = await readLease(dir, token);
      return current?.record?.owner === owner && (await newestToken(dir)) === token ? current.record : undefined;
    };
    return new HeldLease(name, token, held.expiresAt, ttlMs, {
      renew: async (ttl) => {
        const record = await ours();
        if (!record || record.expiresAt <= Date.now()) throw lapsed(name, token);
        const expiresAt = Date.now() + ttl;
        await writeAtomic(dir, file, encoder.encode(JSON.stringify({ ...record, expiresAt })));
        // A contender may have created the next number while we wrote; then the lease is gone.
        if ((await newestToken(dir)) !== token) throw lapsed(name, token);
        return expiresAt;
      },
      release: async () => {
        const record = await ours();
        if (!record) return;
        await writeAtomic(dir, file, encoder.encode(JSON.stringify({ ...record, expiresAt: 0 })));
      },
    });
  }

  async #dir(name: string): Promise<string> {
    const flat = encodeSegment(name);
    if (flat.length <= 200) return join(this.#root, flat);
    // Long names are hashed to fit a file name; `#` never appears in an encoded name.
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(name));
    return join(this.#root, `#${toHex(digest)}`);
  }

  async #removeOlder(dir: string, token: number): Promise<void> {
    for (const older of await tokens(dir)) {
      if (older < token) await removeIfExists(join(dir, leaseFile(older))).catch(() => undefined);
    }
  }
}

function leaseFile(token: number): string {
  return `${token}.lease`;
}

async function tokens(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw fsError("list", dir, error);
  }
  const out: number[] = [];
  for (const name of names) {
    const match = LEASE_FILE.exec(name);
    if (match) out.push(Number(match[1]));
  }
  return out;
}

async function newestToken(dir: string): Promise<number> {
  return Math.max(0, ...(await tokens(dir)));
}

/** A lease file's text and record (absent while its creator is still writing it), or undefined if gone. */
async function readLease(dir: string, token: number): Promise<{ raw: string; record?: LeaseRecord; modifiedAt: number } | undefined> {
  const path = join(dir, leaseFile(token));
  const bytes = await readIfExists(path);
  if (bytes === undefined) return undefined;
  const raw = new TextDecoder().decode(bytes);
  const record = parseRecord(raw, token);
  if (record) return { raw, record, modifiedAt: 0 };
  try {
    return { raw, modifiedAt: (await stat(path)).mtimeMs };
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw fsError("stat", path, error);
  }
}

function parseRecord(raw: string, token: number): LeaseRecord | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LeaseRecord> | null;
    if (value && value.token === token && typeof value.owner === "string" && typeof value.expiresAt === "number" && typeof value.name === "string") {
      return value as LeaseRecord;
    }
  } catch {
    // Empty or half-written: the caller treats it as held for a grace period.
  }
  return undefined;
}
