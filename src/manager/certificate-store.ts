import { EdgecertError } from "../errors.ts";
import type { Fence, Storage } from "../storage/storage.ts";
import type { DueSchedule } from "./due-schedule.ts";
import type { CertificateRecord } from "./records.ts";
import { keys } from "./storage-keys.ts";
import { readJson, replacing, writeJson, type Versioned } from "./stored-json.ts";

/**
 * Whether `candidate` is an older certificate than `stored` (issued before it): a different serial
 * with an earlier notBefore, or the same notBefore and an earlier notAfter, or both the same and an
 * earlier store time. (Ties are not refused: under the lock, the compare-and-set on the version is
 * what stops a stale writer; this rule stops one that has no version to compare.)
 */
export function isOlderCertificate(candidate: CertificateRecord, stored: CertificateRecord): boolean {
  if (candidate.serialNumber === stored.serialNumber && candidate.issuer === stored.issuer) return false;
  const order = [
    Date.parse(candidate.notBefore) - Date.parse(stored.notBefore),
    Date.parse(candidate.notAfter) - Date.parse(stored.notAfter),
    Date.parse(candidate.issuedAt) - Date.parse(stored.issuedAt),
  ].find((d) => d !== 0);
  return order !== undefined && order < 0;
}

/**
 * The one owner of certificate records (`certificates/<id>.json`) and of the rule that they move
 * forward only. Every write replaces exactly the version that was read (compare-and-set) and carries
 * the fence of the certificate's lock, so a lapsed holder or a stale read cannot write; a record
 * holding an older certificate than the stored one is refused. Reads for serving may come from a
 * short memory cache, which also only moves forward. Every write and delete also keeps the due index
 * ({@link DueSchedule}) no later than the record, fenced the same way.
 */
export class CertificateStore {
  /** Records read or written here, and ids found absent (`record` undefined), each until `until`. */
  readonly #cache = new Map<string, { record: CertificateRecord | undefined; until: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly cacheTtlMs: number,
    private readonly now: () => number,
    private readonly due: DueSchedule,
  ) {}

  /** The stored record with its version (always from storage). */
  async read(id: string): Promise<Versioned<CertificateRecord> | undefined> {
    const read = await readJson<CertificateRecord>(this.storage, keys.certificate(id));
    if (read) this.remember(read.value);
    else if (this.cacheTtlMs > 0) this.#cache.set(id, { record: undefined, until: this.now() + this.cacheTtlMs });
    return read;
  }

  /**
   * The record for serving: from memory while fresh (read or written by this process at most
   * `cacheTtlMs` ago), else from storage. So a record another process renewed, revoked or removed is
   * seen here within `cacheTtlMs`. An id found absent is remembered as absent as long (a name index
   * entry naming a certificate whose record is gone costs no read per handshake).
   */
  async get(id: string): Promise<CertificateRecord | undefined> {
    const entry = this.#cache.get(id);
    if (entry && entry.until > this.now()) return entry.record;
    return (await this.read(id))?.value;
  }

  /**
   * Stores `next` in place of what `read` returned (undefined: nothing was stored), fenced by the
   * certificate's lock. Refuses (`conflict`) to replace a certificate with an older one, and storage
   * refuses the write if the record changed since `read` (`conflict`) or the lease is gone (`lease_lost`).
   */
  async write(next: CertificateRecord, read: Versioned<CertificateRecord> | undefined, fence: Fence): Promise<void> {
    if (read && isOlderCertificate(next, read.value)) {
      throw new EdgecertError(
        "conflict",
        `refusing to replace certificate ${read.value.serialNumber} of ${next.id} with the older ${next.serialNumber}`,
      );
    }
    await this.due.beforeWrite(next, fence);
    await writeJson(this.storage, keys.certificate(next.id), next, replacing(this.storage, read, fence));
    this.remember(next);
    await this.due.afterWrite(next, fence);
  }

  /** Deletes exactly the version `read` returned, fenced by the certificate's lock. */
  async delete(read: Versioned<CertificateRecord>, fence: Fence): Promise<void> {
    await this.storage.delete(keys.certificate(read.value.id), replacing(this.storage, read, fence));
    this.forget(read.value);
    await this.due.afterDelete(read.value.id, fence);
  }

  /** Drops a record from memory (after it was deleted). */
  forget(record: CertificateRecord): void {
    this.#cache.delete(record.id);
  }

  private remember(record: CertificateRecord): void {
    const cached = this.#cache.get(record.id);
    if (cached?.record && isOlderCertificate(record, cached.record)) return;
    this.#cache.set(record.id, { record, until: this.now() + this.cacheTtlMs });
  }
}
