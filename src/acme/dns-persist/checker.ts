/**
 * A read-only look at the `_validation-persist` records over DNS-over-HTTPS, before any validation is
 * attempted (a failed validation costs rate limit). It never writes DNS.
 * @experimental draft-ietf-acme-dns-persist (revision: `DNS_PERSIST_DRAFT` in rules.ts).
 * @module
 */
import { queryTxt, type DohFormat } from "../../dns/doh-query.ts";
import { dnsPersistRecordsFor, type DnsPersistRecordToCreate } from "./records.ts";
import {
  candidateValidatedNames,
  evaluateDnsPersistRecords,
  validationPersistName,
  type DnsPersistRecord,
  type DnsPersistRejection,
} from "./rules.ts";

/** The state of one name's records. @experimental */
export type DnsPersistRecordStatus =
  /** A record the CA will accept is in place. */
  | "present"
  /** Accepted now, but its `persistUntil` passes within `expiringWithinMs`. */
  | "expiring"
  /** A record for this CA and account exists but its `persistUntil` has passed. */
  | "expired"
  /** Records for this CA exist but none is acceptable (other account, no `policy=wildcard`, malformed). */
  | "wrong"
  /** No record names this CA. */
  | "missing";

/** What the checker found for one requested name. @experimental */
export interface DnsPersistNameReport {
  /** The requested name (`*.example.com`). */
  name: string;
  /** See {@link DnsPersistRecordStatus}. */
  status: DnsPersistRecordStatus;
  /** The record to create (or to fix) so the name validates. */
  expected: DnsPersistRecordToCreate;
  /** Where an acceptable record was found (may be a parent with `policy=wildcard`). */
  foundAt?: string;
  /** The accepted record, when `present` or `expiring`. */
  record?: DnsPersistRecord;
  /** The TXT values at the name's own Validation Domain Name. */
  values: string[];
  /** Why records naming this CA were not accepted. */
  rejections: DnsPersistRejection[];
}

/** Options of {@link checkDnsPersistRecords}. @experimental */
export interface DnsPersistCheckOptions {
  /** The certificate's names (`*.example.com`, `example.com`). */
  names: readonly string[];
  /** The URI the CA expects in `accounturi` (the challenge's, or the account URL). */
  accountUri: string;
  /** The CA's issuer domain names (the challenge's, or `caaIdentities`); records name one of them. */
  issuerDomainNames: readonly string[];
  /** DoH resolver URL (RFC 8484), e.g. `https://cloudflare-dns.com/dns-query`. */
  resolver: string;
  /** DoH format: `wire` (default) or `json`. */
  format?: DohFormat;
  /** A `fetch` for the resolver. */
  fetch?: typeof fetch;
  /** Report `expiring` when `persistUntil` is closer than this. Default 30 days. */
  expiringWithinMs?: number;
  /** Clock (ms since the epoch). Default `Date.now`. */
  now?: () => number;
  /** Aborts the lookups. */
  signal?: AbortSignal;
}

const DEFAULT_EXPIRING_WITHIN_MS = 30 * 24 * 3600 * 1000;

/**
 * Tells, for each name, whether its dns-persist-01 record is present, wrong, expiring, expired or
 * missing, and which record to create. One DoH query per distinct Validation Domain Name looked at; the
 * records are evaluated with the same rules a CA applies (see `evaluateDnsPersistRecords`).
 * @experimental
 */
export async function checkDnsPersistRecords(options: DnsPersistCheckOptions): Promise<DnsPersistNameReport[]> {
  const now = (options.now ?? Date.now)();
  const expiringWithin = options.expiringWithinMs ?? DEFAULT_EXPIRING_WITHIN_MS;
  const lookups = new Map<string, Promise<string[]>>();
  const txt = (fqdn: string) => {
    const name = validationPersistName(fqdn);
    let found = lookups.get(name);
    if (!found) {
      found = queryTxt(options.resolver, name, {
        ...(options.format ? { format: options.format } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      }).then((r) => r.values);
      lookups.set(name, found);
    }
    return found;
  };
  const reports: DnsPersistNameReport[] = [];
  for (const name of options.names) {
    const [expected] = dnsPersistRecordsFor({ names: [name], accountUri: options.accountUri, issuerDomainName: options.issuerDomainNames[0]! });
    const candidates = candidateValidatedNames(name);
    const rejections: DnsPersistRejection[] = [];
    let values: string[] = [];
    let accepted: { record: DnsPersistRecord; at: string } | undefined;
    for (const [i, validatedName] of candidates.entries()) {
      const here = await txt(validatedName);
      if (i === 0) values = here;
      const verdict = evaluateDnsPersistRecords(here, {
        issuerDomainNames: options.issuerDomainNames,
        accountUri: options.accountUri,
        requestedName: name,
        validatedName,
        now,
      });
      if (verdict.ok) {
        accepted = { record: verdict.record, at: validationPersistName(validatedName) };
        break;
      }
      // A parent's records matter only when they were meant to cover subdomains.
      rejections.push(...(i === 0 ? verdict.reasons : verdict.reasons.filter((r) => r.problem !== "needs_wildcard_policy")));
      // Parents are looked at only for names with a record of their own missing, and stop at the first record set.
      if (i === 0 && here.length > 0 && verdict.reasons.length > 0) break;
    }
    const report: DnsPersistNameReport = { name, status: "missing", expected: expected!, values, rejections };
    if (accepted) {
      report.record = accepted.record;
      report.foundAt = accepted.at;
      const until = accepted.record.persistUntil;
      report.status = until !== undefined && until * 1000 - now < expiringWithin ? "expiring" : "present";
    } else if (rejections.some((r) => r.problem === "expired")) report.status = "expired";
    else if (rejections.length > 0) report.status = "wrong";
    reports.push(report);
  }
  return reports;
}
