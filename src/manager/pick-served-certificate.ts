import { lookupNames } from "./name-index.ts";

/** What {@link pickServedCertificate} needs to know of a certificate ({@link ManagedCertificate} is one). */
export interface ServingCandidate {
  /** The certificate's id in storage (the stable tie-break). */
  readonly id: string;
  /** The names it covers (wildcards as `*.example.com`). */
  readonly names: readonly string[];
  /** End of validity. */
  readonly notAfter: Date;
}

/** How `candidate` covers `name`: 0 exactly, 1 through the one-label wildcard, undefined not at all. */
function coverage(candidate: ServingCandidate, name: string): 0 | 1 | undefined {
  const [exact, wildcard] = lookupNames(name);
  if (candidate.names.includes(exact!)) return 0;
  if (wildcard !== undefined && candidate.names.includes(wildcard)) return 1;
  return undefined;
}

/**
 * The candidates that cover `name`, best first by the serving rule, expired ones included: exact
 * before wildcard (RFC 6125 §6.4.3 — a one-label wildcard only), then the latest `notAfter`, then the
 * smallest id. A total order on what the candidates are, never on how or when they were read.
 */
export function rankCovering<T extends ServingCandidate>(name: string, candidates: Iterable<T>): T[] {
  const value = name.toLowerCase();
  const ranked: Array<{ candidate: T; kind: 0 | 1 }> = [];
  for (const candidate of candidates) {
    const kind = coverage(candidate, value);
    if (kind !== undefined) ranked.push({ candidate, kind });
  }
  ranked.sort(
    (x, y) =>
      x.kind - y.kind ||
      y.candidate.notAfter.getTime() - x.candidate.notAfter.getTime() ||
      (x.candidate.id < y.candidate.id ? -1 : x.candidate.id > y.candidate.id ? 1 : 0),
  );
  return ranked.map((r) => r.candidate);
}

/**
 * The certificate to serve for `name` out of every certificate that covers it — the one rule
 * {@link CertificateManager.getCertificate}, {@link CertificateManager.lookup} and the Worker's hub
 * all use, so every process on every backend gives the same answer from the same certificates:
 * 1. only certificates still valid at `now` (`notAfter` later than `now`; a revoked or removed one is
 *    no longer stored, so it is never a candidate);
 * 2. an exact name before the one-label wildcard covering it (RFC 6125 §6.4.3);
 * 3. the latest `notAfter`;
 * 4. the smallest id (ids are unique per name set, so the choice is total).
 * Candidates that do not cover `name` are ignored. Undefined when none is left.
 */
export function pickServedCertificate<T extends ServingCandidate>(name: string, candidates: Iterable<T>, now: number): T | undefined {
  return rankCovering(name, candidates).find((c) => c.notAfter.getTime() > now);
}
