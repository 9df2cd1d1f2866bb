import type { Logger } from "../logger.ts";
import { dueIndexOf, type DueEntry, type DueIndex } from "../storage/due-index.ts";
import type { Fence, Storage } from "../storage/storage.ts";
import type { CertificateRecord } from "./records.ts";
import { nextCheckAt } from "./renewal-schedule.ts";
import { keys } from "./storage-keys.ts";

/** How many due entries one read of the index asks for beyond those already looked at in a pass. */
const DUE_PAGE = 256;

/**
 * Keeps the storage's {@link DueIndex} (when it has one) in step with the certificate records, so a
 * renewal pass reads only what is due. The rule it keeps: **an entry is never later than when its
 * record next needs a look** (`nextCheckAt`). Record writes keep it this way, fenced by the
 * certificate's lock like the record itself:
 * 1. before the record is written, the entry is moved *earlier only* to the new record's time;
 * 2. after, it is set to exactly that time.
 * A crash between the two (or a lapsed lease, whose step 2 the fence refuses) leaves an entry no later
 * than either record's time: the pass then looks early, re-reads the record and repairs the entry —
 * it never looks late. Entries are hints; the record decides.
 *
 * A store written before the index existed has records without entries: until the marker
 * `keys.dueIndexReady` exists, a pass lists every record once and enters each (earlier-only).
 */
export class DueSchedule {
  readonly #index: (Storage & DueIndex) | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {
    this.#index = dueIndexOf(storage);
  }

  /** Whether the storage keeps an index (else passes list every record). */
  get indexed(): boolean {
    return this.#index !== undefined;
  }

  /** Step 1, before `next` is written under `fence`: the entry moves earlier only. Throws when refused. */
  async beforeWrite(next: CertificateRecord, fence: Fence): Promise<void> {
    await this.#index?.setDue(next.id, nextCheckAt(next.renewal), { fence: plain(fence), earlierOnly: true });
  }

  /** Step 2, after `next` was written: the entry is exactly its time. A failure leaves an early entry (logged). */
  async afterWrite(next: CertificateRecord, fence: Fence): Promise<void> {
    try {
      await this.#index?.setDue(next.id, nextCheckAt(next.renewal), { fence: plain(fence) });
    } catch (err) {
      this.logger.log("warn", "manager.due_index_write_failed", { id: next.id, error: String(err) });
    }
  }

  /** After record `id` was deleted: its entry goes (a leftover is cleared by the next pass that meets it). */
  async afterDelete(id: string, fence: Fence): Promise<void> {
    try {
      await this.#index?.clearDue(id, { fence: plain(fence) });
    } catch (err) {
      this.logger.log("warn", "manager.due_index_write_failed", { id, error: String(err) });
    }
  }

  /** Under the record's lock, after a look that wrote nothing: the entry set to `record`'s time, or cleared. */
  async repair(id: string, record: CertificateRecord | undefined, fence: Fence): Promise<void> {
    if (!this.#index) return;
    if (record) await this.#index.setDue(id, nextCheckAt(record.renewal), { fence: plain(fence) });
    else await this.#index.clearDue(id, { fence: plain(fence) });
  }

  /**
   * Whether passes may trust the index: the storage has one and every record is entered (the marker
   * exists). Undefined marker: the caller runs a listing pass and then {@link markReady}.
   */
  async ready(): Promise<boolean> {
    return this.#index !== undefined && (await this.storage.get(keys.dueIndexReady)) !== undefined;
  }

  /** Enters a record met by a listing pass (earlier only, so a concurrent writer's entry is never moved later). */
  async enter(record: CertificateRecord): Promise<void> {
    await this.#index?.setDue(record.id, nextCheckAt(record.renewal), { earlierOnly: true });
  }

  /** After a listing pass entered every record: later passes read the index only. */
  async markReady(now: number): Promise<void> {
    if (this.#index) await this.storage.put(keys.dueIndexReady, JSON.stringify({ since: new Date(now).toISOString() }));
  }

  /**
   * The ids due at `now`, earliest first, each once per pass; `visit` is awaited for each before more
   * are read, so entries it moves later are not met again. Bounded by the index's size.
   */
  async forEachDue(now: number, visit: (entry: DueEntry) => Promise<void>): Promise<void> {
    const index = this.#index;
    if (!index) return;
    const seen = new Set<string>();
    for (;;) {
      // Entries looked at but still due (their write failed) come first again: ask past them.
      const limit = seen.size + DUE_PAGE;
      const page = await index.due(now, limit);
      const fresh = page.filter((e) => !seen.has(e.id));
      for (const entry of fresh) {
        seen.add(entry.id);
        await visit(entry);
      }
      if (fresh.length === 0 || page.length < limit) return;
    }
  }
}

/** A fence as `{ name, token }`: a lease's local-clock check is not wanted for index hints. */
function plain(fence: Fence): Fence {
  return { name: fence.name, token: fence.token };
}
