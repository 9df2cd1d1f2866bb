import { EdgecertError } from "../src/errors.ts";
import { SENSITIVE_PREFIXES } from "../src/manager/index.ts";
import { isSealed, type ResealOutcome } from "../src/storage/encrypted-storage.ts";
import type { EncryptionConfig } from "./config.ts";
import type { Env } from "./env.ts";
import { encryptedStorage, routedStorage } from "./storage.ts";

/** Keys one call reseals at most: each costs a few subrequests (Durable Object read and write, KV copy). */
const BATCH = 100;
/** A record written by someone else between our read and write is read and resealed again, this often. */
const CONFLICT_RETRIES = 3;

/** What one `POST /admin/storage/reseal` call did. */
export interface ResealReport {
  /** Records looked at, by what was done to each. */
  counts: Partial<Record<ResealOutcome, number>>;
  /** Records no configured key opens (the rest of the batch was still done). */
  unopenable: string[];
  /**
   * Records of this batch still stored in clear afterwards: outside migration mode they are refused
   * (not sealed: a clear record is unauthenticated), in it they are sealed, so this is 0 unless a writer
   * kept racing the reseal.
   */
  clearValuesRemaining: number;
  /** Whether migration mode (`STORAGE_ENCRYPTION_READ_CLEAR`) is on: clear records are read and resealed. */
  readClearValues: boolean;
  /** Pass it back as `?cursor=` to go on; null when every key-bearing record was visited. */
  cursor: string | null;
  /** What to do next, in a sentence. */
  next: string;
}

/**
 * Brings up to {@link BATCH} key-bearing records (accounts, certificates, pending orders) to the current
 * encryption setting, from where `cursor` left off. Each record is read from its authoritative copy
 * (for KV: the Durable Object that decides its writes, not the KV edge) and written back only if
 * still at that version (see EncryptedStorage.reseal). Key listing comes from each prefix's storage;
 * a record created after the setting changed is written under it anyway.
 */
export async function resealBatch(env: Env, encryption: EncryptionConfig, cursor: string | undefined): Promise<ResealReport> {
  const routed = routedStorage(env);
  const sealed = encryptedStorage(routed, encryption);
  let prefixIndex = cursor === undefined ? 0 : Number(cursor.slice(0, cursor.indexOf(".")));
  let listCursor = cursor === undefined ? undefined : cursor.slice(cursor.indexOf(".") + 1) || undefined;
  const report: ResealReport = { counts: {}, unopenable: [], clearValuesRemaining: 0, readClearValues: encryption.readClearValues, cursor: null, next: "" };
  let done = 0;
  while (prefixIndex < SENSITIVE_PREFIXES.length && done < BATCH) {
    const page = await routed.list(SENSITIVE_PREFIXES[prefixIndex]!, { limit: BATCH - done, ...(listCursor ? { cursor: listCursor } : {}) });
    for (const key of page.keys) {
      done++;
      const outcome = await resealOne(sealed, key);
      if (outcome === "unopenable") {
        // Stored in clear (a reseal outside migration mode leaves it so), or sealed under no key we have.
        const raw = await routed.getEntry(key);
        if (raw !== undefined && !isSealed(raw.value)) report.clearValuesRemaining++;
        else report.unopenable.push(key);
      } else report.counts[outcome] = (report.counts[outcome] ?? 0) + 1;
    }
    if (page.cursor) listCursor = page.cursor;
    else {
      prefixIndex++;
      listCursor = undefined;
    }
  }
  if (prefixIndex < SENSITIVE_PREFIXES.length) report.cursor = `${prefixIndex}.${listCursor ?? ""}`;
  report.next = nextStep(report, encryption);
  return report;
}

async function resealOne(sealed: ReturnType<typeof encryptedStorage>, key: string): Promise<ResealOutcome | "unopenable"> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sealed.reseal(key);
    } catch (err) {
      if (err instanceof EdgecertError && err.code === "conflict" && attempt < CONFLICT_RETRIES) continue;
      if (err instanceof EdgecertError && err.code === "storage") return "unopenable";
      throw err;
    }
  }
}

/** The sentence that tells the operator how to go on, and how to leave migration mode. */
function nextStep(report: ResealReport, encryption: EncryptionConfig): string {
  if (report.clearValuesRemaining > 0 && !encryption.readClearValues) {
    return `${report.clearValuesRemaining} record(s) are stored in clear and refused: if they were written before encryption was on, set STORAGE_ENCRYPTION_READ_CLEAR = "true" and reseal again; otherwise they were not written by edgecert (delete them)`;
  }
  if (report.cursor !== null) return "call again with ?cursor= set to cursor";
  if (encryption.secret !== undefined && encryption.readClearValues) {
    return 'every key-bearing record was visited: if every call of this pass reported clearValuesRemaining 0, set STORAGE_ENCRYPTION_READ_CLEAR = "" (migration mode off), so a record stored in clear is refused';
  }
  return "every key-bearing record was visited";
}
