/**
 * Certificate records as the manager stores them, without a certificate behind them: for filling a
 * store with many records that a pass must not read (their chain and key are empty; they are never due
 * in the test that writes them, or are renewed without reading the chain).
 * @module
 */
import type { CertificateRecord } from "../../src/manager/records.ts";

const DAY = 86_400_000;

/** Record `id` for `<id>.example`, issued `ageDays` before `now`, expiring at `notAfter`, renewal at `renewAt`. */
export function placeholderRecord(id: string, now: number, renewAt: number, notAfter: number, ageDays = 0): CertificateRecord {
  const issued = new Date(now - ageDays * DAY).toISOString();
  return {
    id,
    identifiers: [{ type: "dns", value: `${id}.example` }],
    directoryUrl: "https://ca.test/dir",
    chainPem: "",
    keyPem: "",
    serialNumber: Array.from(new TextEncoder().encode(id), (b) => b.toString(16).padStart(2, "0")).join(""),
    issuer: "CN=placeholder",
    notBefore: issued,
    notAfter: new Date(notAfter).toISOString(),
    orderUrl: `https://ca.test/order/${id}`,
    issuedAt: issued,
    renewal: { renewAt, failures: 0 },
  };
}
