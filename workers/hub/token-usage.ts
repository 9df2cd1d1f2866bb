/**
 * How often and from where each deploy token is used, recorded without a write per pull.
 *
 * A pull only reads its token. The uses are counted in memory by the Worker isolate that served them
 * and added to the token's usage record (`hub/token-uses/<id>`, beside the token record, never in it)
 * in the background, at most once per {@link FLUSH_INTERVAL_MS} per isolate: the first use after a
 * flush schedules the next one. So one token pulled by a whole fleet at once costs each isolate one
 * write per interval, not one contended compare-and-set per pull (which gave up after 8 tries: 20
 * simultaneous pulls got 4 × 409). A flush that loses every compare-and-set keeps its counts for the
 * next one; the pull that caused it has long been answered.
 *
 * How exact (what the admin listing shows):
 * - `uses` counts every authenticated pull (200, 304, and a 403/404 after a valid token) once written;
 *   it is never counted twice. The isolate answering the listing writes its own counts first, so its
 *   uses are all included. Uses held by other isolates show up within {@link FLUSH_INTERVAL_MS}; if an
 *   isolate is evicted before its flush (its `waitUntil` cut short), up to that interval of its uses is
 *   lost: `uses` is a lower bound, exact when one isolate serves the pulls and the listing.
 * - `lastUsedAt` / `lastUsedFrom`: the latest use written, so up to {@link FLUSH_INTERVAL_MS} old.
 * Revocation is unaffected: it writes the token record, which uses never write.
 * @module
 */
import { sleep } from "../../src/abort.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { readMany } from "../../src/storage/read-many.ts";
import type { Storage } from "../../src/storage/storage.ts";

/** Longest a use waits in an isolate's memory before it is written. */
export const FLUSH_INTERVAL_MS = 10_000;

const PREFIX = "hub/token-uses/";
/** Compare-and-set attempts of one flush per token; a flush contends only with other isolates' flushes. */
const CAS_ATTEMPTS = 16;

/** Uses of one token as stored. */
export interface TokenUse {
  uses: number;
  /** Epoch ms of the latest use. */
  lastUsedAt?: number;
  /** CF-Connecting-IP of the latest use that had one. */
  lastUsedFrom?: string;
}

/** `b` added to `a`: counts summed, the latest use's time and address kept. */
export function mergeUses(a: TokenUse | undefined, b: TokenUse): TokenUse {
  if (!a) return b;
  const later = a.lastUsedAt === undefined || (b.lastUsedAt ?? 0) >= a.lastUsedAt;
  const last = later ? b : a;
  const from = last.lastUsedFrom ?? (later ? a.lastUsedFrom : b.lastUsedFrom);
  const at = Math.max(a.lastUsedAt ?? 0, b.lastUsedAt ?? 0);
  return { uses: a.uses + b.uses, ...(at > 0 ? { lastUsedAt: at } : {}), ...(from !== undefined ? { lastUsedFrom: from } : {}) };
}

const decode = (bytes: Uint8Array): TokenUse => JSON.parse(new TextDecoder().decode(bytes)) as TokenUse;

/** The stored uses of token `id` (written ones only). */
export async function storedUse(storage: Storage, id: string): Promise<TokenUse | undefined> {
  const raw = await storage.get(PREFIX + id);
  return raw ? decode(raw) : undefined;
}

/** The stored uses of each of `ids` (written ones only), in one read where the storage can (see `readMany`). */
export async function storedUses(storage: Storage, ids: readonly string[]): Promise<Array<TokenUse | undefined>> {
  return (await readMany(storage, ids.map((id) => PREFIX + id))).map((raw) => (raw ? decode(raw) : undefined));
}

/** Adds `use` to the stored record of token `id` (compare-and-set, retried with jitter). */
async function addUse(storage: Storage, id: string, use: TokenUse): Promise<void> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const entry = await storage.getEntry(PREFIX + id);
    const next = mergeUses(entry ? decode(entry.value) : undefined, use);
    try {
      await storage.put(PREFIX + id, JSON.stringify(next), { ifVersion: entry?.version ?? null });
      return;
    } catch (err) {
      if (!isEdgecertError(err, "conflict")) throw err;
      await sleep(Math.random() * 20 * (attempt + 1));
    }
  }
  throw new Error(`uses of token ${id}: ${CAS_ATTEMPTS} compare-and-sets lost`);
}

/** One isolate's uses not written yet, and their flushes (one at a time). */
export class UsageRecorder {
  #pending = new Map<string, TokenUse>();
  #flushing: Promise<void> = Promise.resolve();
  #scheduled = false;

  constructor(private readonly intervalMs = FLUSH_INTERVAL_MS) {}

  /**
   * Counts one use of token `id`; schedules a flush `intervalMs` from now through `waitUntil` unless
   * one is scheduled. Synchronous: the pull never waits for storage.
   */
  record(storage: Storage, id: string, at: number, from: string | undefined, waitUntil: (p: Promise<unknown>) => void): void {
    this.#pending.set(id, mergeUses(this.#pending.get(id), { uses: 1, lastUsedAt: at, ...(from ? { lastUsedFrom: from } : {}) }));
    if (this.#scheduled) return;
    this.#scheduled = true;
    waitUntil(
      sleep(this.intervalMs).then(() => {
        this.#scheduled = false;
        return this.flush(storage);
      }),
    );
  }

  /** Uses of token `id` counted here and not written yet (a listing shows them with the stored ones, writing nothing). */
  unwritten(id: string): TokenUse | undefined {
    return this.#pending.get(id);
  }

  /** Writes every use counted so far; resolves once they are stored (or, on failure, kept for the next flush). */
  flush(storage: Storage): Promise<void> {
    const run = this.#flushing.then(() => this.#write(storage));
    this.#flushing = run;
    return run;
  }

  async #write(storage: Storage): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    for (const [id, use] of batch) {
      try {
        await addUse(storage, id, use);
      } catch (err) {
        // Kept, not lost: the next flush (the next use schedules one, a listing runs one) adds them.
        this.#pending.set(id, mergeUses(this.#pending.get(id), use));
        console.error(JSON.stringify({ level: "warn", event: "hub.token_uses_not_written", id, uses: use.uses, error: String(err) }));
      }
    }
  }
}

/** This isolate's recorder. */
export const tokenUsage = new UsageRecorder();
