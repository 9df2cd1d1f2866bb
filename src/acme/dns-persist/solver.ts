/**
 * The dns-persist-01 solver: it never writes DNS. The records are created once by the domain owner;
 * the solver only checks (read-only, over DoH) that they are in place before the challenge is answered.
 * @experimental draft-ietf-acme-dns-persist (revision: `DNS_PERSIST_DRAFT` in rules.ts).
 * @module
 */
import { EdgecertError } from "../../errors.ts";
import type { DohFormat } from "../../dns/doh-query.ts";
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeChallenge } from "../types.ts";
import { checkDnsPersistRecords, type DnsPersistNameReport } from "./checker.ts";
import { parseDnsPersistChallenge, type DnsPersistChallenge } from "./rules.ts";

/** Options of {@link DnsPersist01Solver}. @experimental */
export interface DnsPersist01SolverOptions {
  /**
   * DoH resolver (RFC 8484) used to check the records before answering a challenge. Default
   * `https://cloudflare-dns.com/dns-query`; `false` answers without checking (the CA then decides).
   */
  resolver?: string | false;
  /** DoH format: `wire` (default) or `json`. */
  format?: DohFormat;
  /** A `fetch` for the resolver. */
  fetch?: typeof fetch;
  /** Issuer domain name to put in records when the challenge offers it. Default: the challenge's first. */
  issuerDomainName?: string;
  /**
   * The ACME account URL the records were pre-provisioned with. When the challenge's `accounturi`
   * differs (modes 3b/3c), the substitution is logged (§3.1, §7.2.3) and the challenge's value is used.
   */
  accountUrl?: string;
  /** Clock (ms since the epoch), for `persistUntil`. Default `Date.now`. */
  now?: () => number;
}

/** The records a dns-persist-01 challenge needs are not (all) in place; nothing was sent to the CA. @experimental */
export class DnsPersistRecordsNotReadyError extends EdgecertError {
  /** What the check found, with the record to create. */
  readonly report: DnsPersistNameReport;
  /** The message names the record to create. */
  constructor(report: DnsPersistNameReport) {
    const why = report.rejections.map((r) => r.detail).join("; ");
    super(
      "challenge_failed",
      `dns-persist-01 record for ${report.name} is ${report.status}${why ? ` (${why})` : ""}: create ${report.expected.name} TXT ${JSON.stringify(report.expected.value)}`,
    );
    this.name = "DnsPersistRecordsNotReadyError";
    this.report = report;
  }
}

const DEFAULT_RESOLVER = "https://cloudflare-dns.com/dns-query";
/** How long a record check is reused between selection and `present`. */
const RECENT_MS = 10_000;

/** The name a certificate asks for, as the authorization says it: `*.example.com` for a wildcard. */
const requestedName = (ctx: ChallengeContext) => (ctx.wildcard ? `*.${ctx.identifier.value}` : ctx.identifier.value);

/**
 * Solves dns-persist-01 (draft-ietf-acme-dns-persist) without DNS credentials: `present` checks that the
 * persistent record is in place and throws {@link DnsPersistRecordsNotReadyError} with the exact record
 * to create when it is not — before the challenge is answered, so no failed validation counts against
 * the rate limit. `cleanup` leaves the record alone (it is meant to persist).
 * @experimental
 */
export class DnsPersist01Solver implements Solver {
  /** Reports of the last few seconds by challenge URL: selection's check is reused by `present`. */
  readonly #recent = new Map<string, { at: number; report: Promise<DnsPersistNameReport> }>();

  /** Every option has a default. */
  constructor(private readonly options: DnsPersist01SolverOptions = {}) {}

  /**
   * Parses the challenge (typed `DnsPersistError` when malformed) and checks this name's record. A
   * check of the same challenge in the last 10 seconds is reused (one DoH query per authorization).
   */
  check(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<DnsPersistNameReport> {
    const now = Date.now();
    for (const [url, entry] of this.#recent) if (now - entry.at > RECENT_MS) this.#recent.delete(url);
    const key = `${challenge.url} ${requestedName(ctx)}`;
    const cached = this.#recent.get(key);
    if (cached) return cached.report;
    const report = this.#check(challenge, ctx);
    this.#recent.set(key, { at: now, report });
    report.catch(() => this.#recent.delete(key));
    return report;
  }

  async #check(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<DnsPersistNameReport> {
    const parsed = this.parse(challenge, ctx);
    const resolver = this.options.resolver ?? DEFAULT_RESOLVER;
    const issuers = this.issuers(parsed);
    if (resolver === false) {
      throw new EdgecertError("invalid_input", "DnsPersist01Solver has no resolver to check records with (resolver: false)");
    }
    const [report] = await checkDnsPersistRecords({
      names: [requestedName(ctx)],
      accountUri: parsed.accountUri,
      issuerDomainNames: issuers,
      resolver,
      signal: ctx.signal,
      ...(this.options.format ? { format: this.options.format } : {}),
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      ...(this.options.now ? { now: this.options.now } : {}),
    });
    return report!;
  }

  /** Whether a record the CA will accept is in place (selection prefers dns-persist-01 then). */
  async recordsInPlace(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<boolean> {
    if (this.options.resolver === false) return true;
    const report = await this.check(challenge, ctx);
    return report.status === "present" || report.status === "expiring";
  }

  /** Checks the record (unless `resolver: false`); never writes DNS. */
  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    if (this.options.resolver === false) {
      this.parse(challenge, ctx);
      return;
    }
    const report = await this.check(challenge, ctx);
    if (report.status === "expiring") {
      ctx.logger.log("warn", "dns_persist.expiring", { name: report.name, record: report.foundAt, persistUntil: report.record?.persistUntil });
    } else if (report.status !== "present") {
      throw new DnsPersistRecordsNotReadyError(report);
    }
  }

  /** Nothing to undo: the record persists by design (§1). */
  async cleanup(): Promise<void> {}

  /** Parses the challenge; logs an account URI substitution. */
  private parse(challenge: AcmeChallenge, ctx: ChallengeContext): DnsPersistChallenge {
    const parsed = parseDnsPersistChallenge(challenge);
    const accountUrl = this.options.accountUrl;
    if (accountUrl !== undefined && parsed.accountUri !== accountUrl) {
      // §3.1 / §7.2.3: the CA may name another URI for the account; say so for operator review.
      ctx.logger.log("warn", "dns_persist.account_uri_substituted", { accountUrl, challengeAccountUri: parsed.accountUri, name: ctx.identifier.value });
    }
    return parsed;
  }

  /** The challenge's issuer names, the configured one first. */
  private issuers(parsed: DnsPersistChallenge): string[] {
    const preferred = this.options.issuerDomainName?.toLowerCase();
    return preferred && parsed.issuerDomainNames.includes(preferred)
      ? [preferred, ...parsed.issuerDomainNames.filter((n) => n !== preferred)]
      : parsed.issuerDomainNames;
  }
}
