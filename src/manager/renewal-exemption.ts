import type { AcmeIdentifier } from "../acme/types.ts";
import type { CertificateRecord } from "./records.ts";

/** How far back a certificate for the same names makes an order a renewal at Let's Encrypt. */
const RENEWAL_WINDOW_MS = 120 * 86_400_000;

/**
 * Whether an order for `identifiers` at `directoryUrl` renews `existing` as a CA counts renewals for
 * its limits (`CaLimits.renewalsExempt`): the stored certificate is that CA's, for exactly these
 * identifiers (any order and case), and began within the last 120 days — Let's Encrypt's newOrder
 * looks that far back for a certificate with the same set of identifiers (Boulder wfe2 NewOrder,
 * FQDNSetTimestampsForWindow) before exempting the order from New Orders per Account and
 * Certificates per Registered Domain.
 */
export function renewsSameNames(existing: CertificateRecord | undefined, identifiers: readonly AcmeIdentifier[], directoryUrl: string, now: number): boolean {
  if (!existing || existing.directoryUrl !== directoryUrl) return false;
  const began = Date.parse(existing.notBefore);
  if (!(began > now - RENEWAL_WINDOW_MS)) return false;
  const key = (i: AcmeIdentifier) => `${i.type}:${i.value.toLowerCase()}`;
  const wanted = new Set(identifiers.map(key));
  const had = new Set(existing.identifiers.map(key));
  return wanted.size === had.size && [...wanted].every((k) => had.has(k));
}
