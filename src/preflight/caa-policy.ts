import type { CaaRecord } from "../dns/doh-query.ts";

/** One `issue` / `issuewild` value read (RFC 8659 §4.2: issuer domain, then `; key=value` parameters). */
export interface IssueValue {
  /** The CA's domain, lower case; empty when the record allows no CA (`;`). */
  readonly issuer: string;
  /** Its `key=value` parameters, keys in lower case (RFC 8657: `accounturi`, `validationmethods`). */
  readonly parameters: ReadonlyMap<string, string>;
}

/** Reads an `issue` / `issuewild` value; whitespace around parts is allowed (RFC 8659 §4.2). */
export function parseIssueValue(value: string): IssueValue {
  const [head = "", ...rest] = value.split(";");
  const parameters = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    parameters.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return { issuer: head.trim().toLowerCase().replace(/\.$/, ""), parameters };
}

/** What this issuance would be: which CA, which account, which challenge types it can answer. */
export interface CaaIssuance {
  /** The CA's CAA identities (RFC 8555 §7.1.1 `meta.caaIdentities`). */
  readonly caIdentities: readonly string[];
  /** The account URL (RFC 8657 §3 `accounturi`). */
  readonly accountUri: string;
  /** The ACME challenge types this issuance can use (RFC 8657 §4 `validationmethods`). */
  readonly validationMethods: readonly string[];
}

/** Why a CAA record set refuses an issuance. */
export interface CaaRefusal {
  /** The record that decides it (the first one the CA would read as the refusing one). */
  readonly record: CaaRecord;
  /** Why, in words for the operator. */
  readonly reason: string;
}

/** Property tags RFC 8659 §4 and its extensions define; an unknown one with the critical bit set forbids issuance. */
const KNOWN_TAGS = new Set(["issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone"]);

/**
 * Whether a CA may issue for `name` under its relevant CAA record set (RFC 8659 §4.2–4.3, with RFC
 * 8657's `accounturi` and `validationmethods`). Undefined: permitted; else the record that refuses.
 * An empty set permits any CA; so does a set with no `issue` (or, for a wildcard, no `issuewild` and
 * no `issue`) property.
 */
export function caaRefusal(name: string, records: readonly CaaRecord[], issuance: CaaIssuance): CaaRefusal | undefined {
  const critical = records.find((r) => (r.flags & 128) !== 0 && !KNOWN_TAGS.has(r.tag));
  if (critical) return { record: critical, reason: `an unknown property "${critical.tag}" is marked critical (RFC 8659 §4.1)` };
  const wildcard = name.startsWith("*.");
  const issuewild = records.filter((r) => r.tag === "issuewild");
  // RFC 8659 §4.3: for a wildcard, issuewild properties take precedence over issue ones when present.
  const candidates = wildcard && issuewild.length > 0 ? issuewild : records.filter((r) => r.tag === "issue");
  if (candidates.length === 0) return undefined;
  const identities = new Set(issuance.caIdentities.map((i) => i.toLowerCase().replace(/\.$/, "")));
  let nearest: CaaRefusal | undefined;
  for (const record of candidates) {
    const value = parseIssueValue(record.value);
    if (!identities.has(value.issuer)) {
      nearest ??= { record, reason: value.issuer ? `it allows only ${value.issuer}, not ${[...identities].join(" / ")}` : "it allows no CA at all" };
      continue;
    }
    const account = value.parameters.get("accounturi");
    if (account !== undefined && account !== issuance.accountUri) {
      nearest = { record, reason: `it allows only the account ${account}, not ${issuance.accountUri} (RFC 8657 §3)` };
      continue;
    }
    const methods = value.parameters.get("validationmethods");
    if (methods !== undefined) {
      const allowed = methods.split(",").map((m) => m.trim().toLowerCase());
      if (!issuance.validationMethods.some((m) => allowed.includes(m.toLowerCase()))) {
        nearest = { record, reason: `it allows only validation by ${allowed.join(", ")}, and this issuance answers ${issuance.validationMethods.join(", ")} (RFC 8657 §4)` };
        continue;
      }
    }
    return undefined;
  }
  return nearest;
}

/**
 * The CAA record that lets only this CA and account issue for `domain` (RFC 8659 + RFC 8657), in zone
 * file form, e.g. `example.com. CAA 0 issue "letsencrypt.org; accounturi=https://…; validationmethods=http-01"`
 * (no `validationmethods` when `validationMethods` is empty).
 */
export function pinningCaaRecord(domain: string, issuance: CaaIssuance & { readonly wildcard?: boolean }): string {
  const identity = issuance.caIdentities[0] ?? "";
  const methods = issuance.validationMethods.length ? `; validationmethods=${issuance.validationMethods.join(",")}` : "";
  return `${domain.replace(/^\*\./, "").replace(/\.?$/, ".")} CAA 0 ${issuance.wildcard ? "issuewild" : "issue"} "${identity}; accounturi=${issuance.accountUri}${methods}"`;
}
