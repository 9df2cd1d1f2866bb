/**
 * Every rule of draft-ietf-acme-dns-persist that edgecert applies, in one place, so that a revision of the
 * draft changes this file only.
 *
 * Implemented revision: the working group's editor's copy of 27 July 2026 ("draft-ietf-acme-dns-persist-latest",
 * github.com/ietf-wg-acme/draft-ietf-acme-dns-persist, draft-ietf-acme-dns-persist.txt at commit 035bc57), which
 * follows -02: "Validation Domain Name", `accounturi` modes 3a/3b/3c, wildcards of subdomains (§5.1, §6.1).
 * Section numbers in comments refer to that text.
 *
 * @experimental The draft is not an RFC yet; names and behaviour here may change with it.
 * @module
 */
import { EdgecertError } from "../../errors.ts";
import type { AcmeStatus } from "../types.ts";

/** The draft revision this module implements (reported in errors and by the checker). @experimental */
export const DNS_PERSIST_DRAFT = "draft-ietf-acme-dns-persist (editor's copy of 2026-07-27, after -02)";

/** The challenge type (§3, §8.1). @experimental */
export const DNS_PERSIST_01 = "dns-persist-01";

/** The "DNS TXT Record Persistent DCV Domain Label" (§2, §8.2). @experimental */
export const VALIDATION_PERSIST_LABEL = "_validation-persist";

/** A challenge carries 1 to this many issuer domain names; clients MUST reject more (§3.1). */
const MAX_ISSUER_DOMAIN_NAMES = 10;
/** Each issuer domain name is at most this many octets (§3.1). */
const MAX_DOMAIN_NAME_OCTETS = 253;
/** One TXT character-string holds at most 255 octets (§9.1, RFC 1035 §3.3.14). */
const MAX_CHARACTER_STRING_OCTETS = 255;

/** Why a dns-persist-01 value was refused. @experimental */
export type DnsPersistErrorReason =
  /** The challenge object breaks §3.1 (issuer-domain-names empty, more than 10, not normalized; no accounturi). */
  | "malformed_challenge"
  /** A TXT record breaks §4.1 (issue-value syntax, duplicate parameter, no accounturi, bad persistUntil). */
  | "malformed_record"
  /** Input to the record builder cannot make a valid record (e.g. an account URI with `;` or spaces). */
  | "invalid_record_input";

/**
 * A dns-persist-01 challenge object, record or record input that breaks the draft. `code` is
 * `bad_response` for what the CA sent, `invalid_input` for what the caller passed.
 * @experimental
 */
export class DnsPersistError extends EdgecertError {
  /** What was wrong. */
  readonly reason: DnsPersistErrorReason;
  /** The message gets the draft revision appended. */
  constructor(reason: DnsPersistErrorReason, message: string) {
    super(reason === "invalid_record_input" ? "invalid_input" : "bad_response", `${message} (${DNS_PERSIST_DRAFT})`);
    this.name = "DnsPersistError";
    this.reason = reason;
  }
}

/** A parsed dns-persist-01 challenge object (§3.1). @experimental */
export interface DnsPersistChallenge {
  /** Always `dns-persist-01`. */
  type: typeof DNS_PERSIST_01;
  /** Where the client POSTs `{}` when the record is in place (RFC 8555 §7.5.1). */
  url: string;
  /** The challenge status (RFC 8555 §7.1.6). */
  status: AcmeStatus;
  /** The URI the CA expects in the record's `accounturi` (modes 3a/3b/3c, §4.1 item 3). */
  accountUri: string;
  /** 1–10 normalized issuer domain names; a record may use any one (§3.1). */
  issuerDomainNames: string[];
}

// RFC 8659 §4.2 (issue-value): label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)).
const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
// RFC 8659 §4.2: tag has the same form as a label; value = *(%x21-3A / %x3C-7E).
const TAG = LDH_LABEL;
const VALUE = /^[\x21-\x3a\x3c-\x7e]*$/;
// RFC 5234 WSP.
const WSP = /^[ \t]*/;

/** Whether `name` is a normalized issuer domain name: A-labels, lowercase, no trailing dot, ≤ 253 octets (§3.1). */
function isNormalizedIssuerDomainName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_DOMAIN_NAME_OCTETS) return false;
  if (name !== name.toLowerCase()) return false;
  return name.split(".").every((label) => label.length <= 63 && LDH_LABEL.test(label));
}

/**
 * Reads a dns-persist-01 challenge object as the CA sent it (§3.1). Throws {@link DnsPersistError}
 * (`malformed_challenge`) when `issuer-domain-names` is missing, empty, has more than 10 entries or an entry
 * that is not a normalized name, or when `accounturi` is missing: "Clients MUST consider a challenge
 * malformed ... and MUST reject such challenges".
 * @experimental
 */
export function parseDnsPersistChallenge(challenge: unknown): DnsPersistChallenge {
  const c = challenge as Record<string, unknown> | null;
  const fail = (why: string) => new DnsPersistError("malformed_challenge", `malformed dns-persist-01 challenge: ${why}`);
  if (typeof c !== "object" || c === null || Array.isArray(c)) throw fail("not an object");
  if (c.type !== DNS_PERSIST_01) throw fail(`type is ${JSON.stringify(c.type)}`);
  if (typeof c.url !== "string" || c.url === "") throw fail("no url");
  if (typeof c.status !== "string" || c.status === "") throw fail("no status");
  if (typeof c.accounturi !== "string" || c.accounturi === "") throw fail("no accounturi");
  if (!VALUE.test(c.accounturi)) throw fail("accounturi contains characters a TXT issue-value cannot carry");
  const names = c["issuer-domain-names"];
  if (!Array.isArray(names)) throw fail("issuer-domain-names is not an array");
  if (names.length === 0) throw fail("issuer-domain-names is empty");
  if (names.length > MAX_ISSUER_DOMAIN_NAMES) throw fail(`issuer-domain-names has ${names.length} entries (at most ${MAX_ISSUER_DOMAIN_NAMES})`);
  for (const name of names) {
    if (typeof name !== "string" || !isNormalizedIssuerDomainName(name)) {
      throw fail(`issuer domain name ${JSON.stringify(name)} is not a lowercase A-label name without a trailing dot`);
    }
  }
  return {
    type: DNS_PERSIST_01,
    url: c.url,
    status: c.status as AcmeStatus,
    accountUri: c.accounturi,
    issuerDomainNames: [...(names as string[])],
  };
}

/** The validated FQDN for a requested name: a wildcard validates at its base name (§4, §10.2). @experimental */
export function persistBaseName(name: string): string {
  return name.replace(/^\*\./, "").replace(/\.$/, "").toLowerCase();
}

/** The Validation Domain Name: `_validation-persist.<FQDN>` (§2, §4). @experimental */
export function validationPersistName(name: string): string {
  return `${VALIDATION_PERSIST_LABEL}.${persistBaseName(name)}`;
}

/** What one `_validation-persist` TXT record says (§4.1). @experimental */
export interface DnsPersistRecord {
  /** The record's issuer-domain-name, normalized (lowercase) for comparison (§4.2, §3.1). */
  issuerDomainName: string;
  /** The `accounturi` parameter, exactly as written (compared without normalization, §4.1). */
  accountUri: string;
  /** `policy=wildcard` (value compared case-insensitively, §4.1 item 4); any other value counts as absent. */
  wildcard: boolean;
  /** The `persistUntil` UNIX time in seconds, if present (§4.1 item 5). */
  persistUntil?: number;
}

/** What a record should say, for {@link formatDnsPersistRecord}. @experimental */
export interface DnsPersistRecordInput {
  /** One of the CA's issuer domain names (from the challenge, or `caaIdentities` when pre-provisioning, §4.5). */
  issuerDomainName: string;
  /** The account URI: the ACME account URL (mode 3a, §4.5), or the URI the challenge names. */
  accountUri: string;
  /** Add `policy=wildcard` (needed for wildcards and subdomains, §5, §6). */
  wildcard?: boolean;
  /** Stop the record being valid for new validations after this time (§4.1 item 5). */
  persistUntil?: Date | number;
}

/**
 * The record's RDATA as one issue-value string (§4.1, RFC 8659 §4.2), e.g.
 * `authority.example; accounturi=https://ca.example/acct/123; policy=wildcard`. Throws
 * {@link DnsPersistError} (`invalid_record_input`) for values a valid record cannot carry.
 * @experimental
 */
export function formatDnsPersistRecord(input: DnsPersistRecordInput): string {
  const fail = (why: string) => new DnsPersistError("invalid_record_input", `cannot build a _validation-persist record: ${why}`);
  const issuer = input.issuerDomainName.replace(/\.$/, "").toLowerCase();
  if (!isNormalizedIssuerDomainName(issuer)) throw fail(`${JSON.stringify(input.issuerDomainName)} is not an A-label domain name`);
  if (input.accountUri === "" || !VALUE.test(input.accountUri)) throw fail(`account URI ${JSON.stringify(input.accountUri)} is empty or has spaces, ';' or non-ASCII`);
  const parts = [issuer, `accounturi=${input.accountUri}`];
  if (input.wildcard) parts.push("policy=wildcard");
  if (input.persistUntil !== undefined) {
    const seconds = typeof input.persistUntil === "number" ? input.persistUntil : Math.floor(input.persistUntil.getTime() / 1000);
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw fail(`persistUntil ${String(input.persistUntil)} is not a time after 1970`);
    parts.push(`persistUntil=${seconds}`);
  }
  return parts.join("; ");
}

/**
 * Splits RDATA into character-strings of at most 255 octets: clients MUST split longer RDATA (§9.1). The
 * issue-value is ASCII, so characters are octets.
 * @experimental
 */
export function splitTxtCharacterStrings(rdata: string): string[] {
  const strings: string[] = [];
  for (let i = 0; i < rdata.length; i += MAX_CHARACTER_STRING_OCTETS) strings.push(rdata.slice(i, i + MAX_CHARACTER_STRING_OCTETS));
  return strings.length > 0 ? strings : [""];
}

/**
 * Parses one TXT record's RDATA (its character-strings already joined) as a dns-persist-01 record:
 * RFC 8659 §4.2 issue-value syntax, tags matched case-insensitively, unknown tags ignored (§4.1 item 1),
 * `policy` values compared case-insensitively (§4.1 item 4), a duplicate parameter (in any case), a missing
 * `accounturi` or a `persistUntil` that is not a base-10 integer make it malformed (§4.1, §9.3.1).
 * Throws {@link DnsPersistError} (`malformed_record`).
 * @experimental
 */
export function parseDnsPersistRecord(rdata: string): DnsPersistRecord {
  const fail = (why: string) => new DnsPersistError("malformed_record", `malformed _validation-persist record ${JSON.stringify(rdata)}: ${why}`);
  // issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
  const semicolon = rdata.indexOf(";");
  const head = (semicolon === -1 ? rdata : rdata.slice(0, semicolon)).replace(WSP, "").replace(/[ \t]*$/, "");
  if (head === "" || !head.split(".").every((l) => LDH_LABEL.test(l))) throw fail("no issuer-domain-name before ';'");
  const parameters = new Map<string, string>();
  if (semicolon !== -1) {
    const rest = rdata.slice(semicolon + 1).trim();
    // parameters = (parameter *WSP ";" *WSP parameters) / parameter — no empty parameter between ';'.
    if (rest !== "") {
      for (const raw of rest.split(";")) {
        const parameter = raw.replace(/^[ \t]+|[ \t]+$/g, "");
        const eq = parameter.indexOf("=");
        if (eq === -1) throw fail(`parameter ${JSON.stringify(parameter)} has no '='`);
        // parameter = tag *WSP "=" *WSP value
        const tag = parameter.slice(0, eq).replace(/[ \t]+$/, "");
        const value = parameter.slice(eq + 1).replace(/^[ \t]+/, "");
        if (!TAG.test(tag)) throw fail(`parameter tag ${JSON.stringify(tag)} is not a tag`);
        if (!VALUE.test(value)) throw fail(`parameter ${tag} has a value with spaces or non-ASCII characters`);
        // Tags are matched case-insensitively, as CAA matches its tags (RFC 8659 §4.1): `Policy=wildcard` is the
        // policy parameter, not an unknown tag to ignore; so a duplicate is one whatever its case:
        // §9.3.1 makes duplicate parameters a syntax error.
        const key = tag.toLowerCase();
        if (parameters.has(key)) throw fail(`parameter ${tag} appears twice`);
        parameters.set(key, value);
      }
    }
  }
  const accountUri = parameters.get("accounturi");
  if (accountUri === undefined || accountUri === "") throw fail("no accounturi parameter");
  const record: DnsPersistRecord = {
    issuerDomainName: head.toLowerCase(),
    accountUri,
    wildcard: parameters.get("policy")?.toLowerCase() === "wildcard",
  };
  const persistUntil = parameters.get("persistuntil");
  if (persistUntil !== undefined) {
    if (!/^[0-9]+$/.test(persistUntil) || !Number.isSafeInteger(Number(persistUntil))) throw fail(`persistUntil ${JSON.stringify(persistUntil)} is not a base-10 integer`);
    record.persistUntil = Number(persistUntil);
  }
  return record;
}

/** What a CA following the draft would make of a record set for one requested name. @experimental */
export type DnsPersistVerdict =
  /** A record satisfies every requirement. */
  | { ok: true; record: DnsPersistRecord; rdata: string }
  /** None does; `reasons` says why for each record naming one of the issuer domain names. */
  | { ok: false; reasons: DnsPersistRejection[] };

/** Why one record was not accepted. @experimental */
export interface DnsPersistRejection {
  /** The record as found (character-strings joined). */
  rdata: string;
  /** Which rule it broke. */
  problem: "malformed" | "wrong_account" | "expired" | "needs_wildcard_policy";
  /** A sentence for people. */
  detail: string;
}

/** What a record is checked against: the challenge's names and account URI, the name asked for, the time. @experimental */
export interface DnsPersistExpectation {
  /** The challenge's issuer domain names. */
  issuerDomainNames: readonly string[];
  /** The URI the CA expects in `accounturi`. */
  accountUri: string;
  /** The name the certificate asks for (`*.example.com`, `www.example.com`). */
  requestedName: string;
  /** The FQDN whose `_validation-persist` records are evaluated (the requested base name, or a parent of it). */
  validatedName: string;
  /** Now, in ms since the epoch. */
  now: number;
}

/**
 * Whether `validated` authorizes `requested` (§5.1, §6): the name itself always; a wildcard of the name
 * itself, a subdomain, or a wildcard of a subdomain only with `policy=wildcard` — the validated FQDN must
 * then be the name or a proper suffix of the requested base name (after removing `*.`).
 */
function scopeAllows(record: DnsPersistRecord, requestedName: string, validatedName: string): boolean {
  const wildcard = requestedName.startsWith("*.");
  const base = persistBaseName(requestedName);
  const validated = persistBaseName(validatedName);
  if (base === validated) return !wildcard || record.wildcard;
  return record.wildcard && base.endsWith(`.${validated}`);
}

/**
 * Evaluates the TXT records at one Validation Domain Name as the CA would (§4.2, §4.3.2): ignore records
 * whose issuer-domain-name is not one of the challenge's (compared after case-folding, §3.1); a record
 * counts only if it parses, names the expected account (Simple String Comparison, RFC 3986 §6.2.1),
 * has `persistUntil` not yet passed (§4.1 item 5) and `policy=wildcard` where the scope needs it (§5, §6).
 * Any one such record suffices.
 * @experimental
 */
export function evaluateDnsPersistRecords(rdatas: readonly string[], expected: DnsPersistExpectation): DnsPersistVerdict {
  const reasons: DnsPersistRejection[] = [];
  const issuers = new Set(expected.issuerDomainNames);
  for (const rdata of rdatas) {
    let record: DnsPersistRecord;
    try {
      record = parseDnsPersistRecord(rdata);
    } catch (err) {
      // A malformed record is reported only if it looks like it was meant for this CA.
      const head = rdata.split(";")[0]!.trim().toLowerCase();
      if (issuers.has(head)) reasons.push({ rdata, problem: "malformed", detail: (err as Error).message });
      continue;
    }
    if (!issuers.has(record.issuerDomainName)) continue;
    if (record.accountUri !== expected.accountUri) {
      reasons.push({ rdata, problem: "wrong_account", detail: `accounturi is ${record.accountUri}, the CA expects ${expected.accountUri}` });
      continue;
    }
    // "MUST NOT consider this validation record valid for new validation attempts after the specified timestamp."
    if (record.persistUntil !== undefined && record.persistUntil * 1000 < expected.now) {
      reasons.push({ rdata, problem: "expired", detail: `persistUntil ${new Date(record.persistUntil * 1000).toISOString()} has passed` });
      continue;
    }
    if (!scopeAllows(record, expected.requestedName, expected.validatedName)) {
      reasons.push({ rdata, problem: "needs_wildcard_policy", detail: `${expected.requestedName} needs policy=wildcard on the record at ${validationPersistName(expected.validatedName)}` });
      continue;
    }
    return { ok: true, record, rdata };
  }
  return { ok: false, reasons };
}

/**
 * The FQDNs whose records may authorize `requestedName`, nearest first: its base name, then each parent
 * (which can authorize it only with `policy=wildcard`, §6.1). Parents stop before the last label (a TLD).
 * @experimental
 */
export function candidateValidatedNames(requestedName: string): string[] {
  const labels = persistBaseName(requestedName).split(".");
  const names: string[] = [];
  for (let i = 0; i + 1 < labels.length || (i === 0 && labels.length === 1); i++) names.push(labels.slice(i).join("."));
  return names;
}
