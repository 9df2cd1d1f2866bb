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

/**
 * The name → certificate index (`names/<name>`), which serves SNI lookups. Entries are written under
 * the certificate's lock (fenced) after the certificate itself, and completed idempotently by
 * {@link NameIndex.complete} so that a crash between the two never leaves a name unserved.
 */
export class NameIndex {
  constructor(private readonly storage: Storage) {}

  /** The certificate id the index holds for exactly `name`. */
  async lookup(name: string): Promise<string | undefined> {
    return (await readJson<NameIndexRecord>(this.storage, keys.nameIndex(name)))?.value.id;
  }

  /** Points every name of `record` at it (a new or renewed certificate is what serves them now). */
  async point(record: CertificateRecord, fence: Fence): Promise<void> {
    for (const { value } of record.identifiers) {
      const read = await readJson<NameIndexRecord>(this.storage, keys.nameIndex(value));
      if (read?.value.id === record.id) continue;
      await writeJson(this.storage, keys.nameIndex(value), { id: record.id } satisfies NameIndexRecord, replacing(this.storage, read, fence));
    }
  }

  /**
   * Points at `record` every one of its names that has no entry, or an entry whose certificate is gone
   * (a crash between the certificate write and the index; a removed overlapping certificate). Names
   * served by another existing certificate keep it. Returns how many entries it wrote.
   */
  async complete(record: CertificateRecord, exists: (id: string) => Promise<boolean>, fence: Fence): Promise<number> {
    let written = 0;
    for (const { value } of record.identifiers) {
      const read = await readJson<NameIndexRecord>(this.storage, keys.nameIndex(value));
      if (read && (read.value.id === record.id || (await exists(read.value.id)))) continue;
      await writeJson(this.storage, keys.nameIndex(value), { id: record.id } satisfies NameIndexRecord, replacing(this.storage, read, fence));
      written++;
    }
    return written;
  }

  /** Whether every name of `record` has an entry whose certificate exists (no write). */
  async isComplete(record: CertificateRecord, exists: (id: string) => Promise<boolean>): Promise<boolean> {
    for (const { value } of record.identifiers) {
      const id = await this.lookup(value);
      if (id === undefined || (id !== record.id && !(await exists(id)))) return false;
    }
    return true;
  }

  /** Removes the entries that point at `record` (fenced; an entry re-pointed meanwhile is left alone). */
  async unpoint(record: CertificateRecord, fence: Fence): Promise<void> {
    for (const { value } of record.identifiers) {
      const read = await readJson<NameIndexRecord>(this.storage, keys.nameIndex(value));
      if (read?.value.id !== record.id) continue;
      await this.storage.delete(keys.nameIndex(value), replacing(this.storage, read, fence));
    }
  }
}
