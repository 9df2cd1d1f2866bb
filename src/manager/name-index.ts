import { EdgecertError } from "../errors.ts";
import type { Fence, Storage } from "../storage/storage.ts";
import type { CertificateRecord, NameIndexRecord } from "./records.ts";
import { keys } from "./storage-keys.ts";
import { readJson, replacing, writeJson } from "./stored-json.ts";

/**
 * The names a TLS client would accept a certificate for when it asks for `name`, best first: the
 * exact name, then the wildcard one label up (RFC 6125 §6.4.3: `*` stands for exactly one whole,
 * left-most label, so `*.x.test` covers `www.x.test` but neither `x.test` nor `a.b.x.test`).
 */
export function lookupNames(name: string): string[] {
  if (name.startsWith("*.")) return [name];
  const dot = name.indexOf(".");
  // An IP address is never matched by a wildcard; a name needs a parent with at least one dot
  // (`*.test` would cover a whole TLD).
  if (dot <= 0 || /^[0-9.]+$/.test(name) || name.includes(":") || !name.slice(dot + 1).includes(".")) return [name];
  return [name, `*.${name.slice(dot + 1)}`];
}

/** Whether `record` covers `name` (exactly, or through a one-label wildcard). */
export function covers(record: CertificateRecord, name: string): boolean {
  const candidates = lookupNames(name);
  return record.identifiers.some((i) => candidates.includes(i.value));
}

/** Attempts at one index entry's compare-and-set before giving up (each failure is another writer's success). */
const MAX_ATTEMPTS = 64;

/** The ids an entry holds (an entry written before issue 23 held one `id`). */
function idsOf(entry: NameIndexRecord | undefined): string[] {
  if (!entry) return [];
  return entry.ids ?? (entry.id === undefined ? [] : [entry.id]);
}

/**
 * The name → certificates index (`names/<name>`): for each name, the ids of every stored certificate
 * that lists exactly that name — a superset, so a reader picks among them (see
 * {@link pickServedCertificate}) and no writer ever chooses a winner. Kept a superset by the order
 * of writes, under the certificate's lock and fenced by it: an id is added to every name of a
 * certificate *before* its record is first written, and taken out only *after* the record is
 * deleted. A crash between the two steps leaves an id whose record is missing, which readers skip;
 * never a stored certificate missing from the index — so no repair pass is needed. Renewing adds
 * nothing (the id of a name set does not change). Entries are shared by the certificates of
 * overlapping name sets, whose locks differ: each change is a compare-and-set on the entry's version,
 * retried on conflict.
 *
 * Reads for serving are kept in memory for `cacheTtlMs` (see {@link NameIndex.covering}).
 */
export class NameIndex {
  readonly #cache = new Map<string, { ids: string[]; until: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly cacheTtlMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

  /** The ids the index holds for exactly `name` (from storage). */
  async ids(name: string): Promise<string[]> {
    return idsOf((await readJson<NameIndexRecord>(this.storage, keys.nameIndex(name)))?.value);
  }

  /**
   * The ids of the certificates that may cover `name` (exact name, then the one-label wildcard): what
   * storage held at most `cacheTtlMs` ago. Changes this process makes are seen at once.
   */
  async covering(name: string): Promise<string[]> {
    const cached = this.#cache.get(name);
    if (cached && cached.until > this.now()) return cached.ids;
    const until = this.now() + this.cacheTtlMs;
    const ids = [...new Set((await Promise.all(lookupNames(name).map((n) => this.ids(n)))).flat())];
    if (this.cacheTtlMs > 0) this.#cache.set(name, { ids, until });
    return ids;
  }

  /** Adds `record`'s id to the entry of each of its names (before its record is first written). */
  async add(record: CertificateRecord, fence: Fence): Promise<number> {
    return this.#change(record, fence, (ids) => (ids.includes(record.id) ? undefined : [...ids, record.id].sort()));
  }

  /** Takes `record`'s id out of the entry of each of its names (after its record was deleted). */
  async remove(record: CertificateRecord, fence: Fence): Promise<number> {
    return this.#change(record, fence, (ids) => (ids.includes(record.id) ? ids.filter((id) => id !== record.id) : undefined));
  }

  /** Whether every name of `record` lists it (no write): false only for a store written before issue 23. */
  async includes(record: CertificateRecord): Promise<boolean> {
    for (const { value } of record.identifiers) if (!(await this.ids(value)).includes(record.id)) return false;
    return true;
  }

  /** Applies `next` to each name's entry by compare-and-set, fenced; returns how many entries changed. */
  async #change(record: CertificateRecord, fence: Fence, next: (ids: string[]) => string[] | undefined): Promise<number> {
    let written = 0;
    this.#cache.clear();
    for (const { value } of record.identifiers) {
      const key = keys.nameIndex(value);
      for (let attempt = 1; ; attempt++) {
        const read = await readJson<NameIndexRecord>(this.storage, key);
        const ids = next(idsOf(read?.value));
        if (ids === undefined) break;
        try {
          if (ids.length === 0) await this.storage.delete(key, replacing(this.storage, read, fence));
          // `id` too, for a process of an earlier version still reading the one-id entry.
          else await writeJson(this.storage, key, { ids, id: ids.at(-1)! } satisfies NameIndexRecord, replacing(this.storage, read, fence));
          written++;
          break;
        } catch (err) {
          // Another certificate covering the same name changed the entry since it was read: read again.
          if (!(err instanceof EdgecertError && err.code === "conflict") || attempt >= MAX_ATTEMPTS) throw err;
        }
      }
    }
    this.#cache.clear();
    return written;
  }
}
