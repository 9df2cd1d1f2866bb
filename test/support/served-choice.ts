/**
 * What a fresh process must serve for a name, computed from the certificate records a store holds
 * (not through the name index): the serving rule (src/manager/pick-served-certificate.ts) applied to
 * every stored certificate. The oracle of the overlapping-names tests and the interleaving search.
 * @module
 */
import { pickServedCertificate } from "../../src/manager/pick-served-certificate.ts";
import type { CertificateRecord } from "../../src/manager/records.ts";
import type { Storage } from "../../src/storage/storage.ts";

/** The id the serving rule picks for `name` out of `records` at `now`, or undefined. */
export function expectedServedId(records: Iterable<CertificateRecord>, name: string, now: number): string | undefined {
  const candidates = [...records].map((r) => ({ id: r.id, names: r.identifiers.map((i) => i.value), notAfter: new Date(r.notAfter) }));
  return pickServedCertificate(name, candidates, now)?.id;
}

/** Every certificate record in `storage` (read straight from `certificates/`). */
export async function storedCertificateRecords(storage: Storage): Promise<CertificateRecord[]> {
  const out: CertificateRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list("certificates/", cursor ? { cursor } : {});
    for (const key of page.keys) {
      const bytes = await storage.get(key);
      if (bytes) out.push(JSON.parse(new TextDecoder().decode(bytes)) as CertificateRecord);
    }
    cursor = page.cursor;
  } while (cursor);
  return out;
}
