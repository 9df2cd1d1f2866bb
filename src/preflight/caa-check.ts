import { queryCaa, type CaaLookup, type CaaRecord } from "../dns/doh-query.ts";
import { normalizeDnsName } from "../dns/wire-format.ts";
import { EdgecertError } from "../errors.ts";
import { caaRefusal, type CaaIssuance } from "./caa-policy.ts";

/** Options for {@link checkCaa}. */
export interface CaaCheckOptions {
  /** A DNS-over-HTTPS resolver (RFC 8484, wire format), e.g. `https://cloudflare-dns.com/dns-query`. */
  readonly resolverUrl: string;
  /** A `fetch` to use instead of the global one. */
  readonly fetch?: typeof fetch;
  /** Aborts the lookups. */
  readonly signal?: AbortSignal;
}

/** The relevant CAA record set of a name (RFC 8659 §3): the first non-empty set climbing from it towards the root. */
export interface RelevantCaa {
  /** Where the set was found; undefined when no name up to the top-level domain has one. */
  readonly owner?: string;
  /** The records found there (empty when none). */
  readonly records: readonly CaaRecord[];
}

/**
 * RFC 8659 §3: the CAA records at `name` (for `*.x`, at `x`), else at its parent, and so on up to the
 * top-level domain. Each lookup follows CNAMEs inside the resolver's answer. IP addresses have none.
 * `lookups` shares answers between calls (one per owner name).
 */
export async function relevantCaa(name: string, options: CaaCheckOptions, lookups: Map<string, Promise<CaaLookup>> = new Map()): Promise<RelevantCaa> {
  const base = normalizeDnsName(name.replace(/^\*\./, ""));
  if (/^[\d.]+$/.test(base) || base.includes(":")) return { records: [] };
  const labels = base.split(".");
  for (let i = 0; i < labels.length; i++) {
    const owner = labels.slice(i).join(".");
    // Names of one certificate share parents: each owner is asked once.
    let pending = lookups.get(owner);
    if (!pending) {
      pending = queryCaa(options.resolverUrl, owner, { ...(options.fetch ? { fetch: options.fetch } : {}), ...(options.signal ? { signal: options.signal } : {}) });
      lookups.set(owner, pending);
    }
    const lookup = await pending;
    if (lookup.rcode !== 0 && lookup.rcode !== 3) throw new EdgecertError("network", `the CAA lookup of ${owner} failed with DNS RCODE ${lookup.rcode}`);
    if (lookup.records.length > 0) return { owner, records: lookup.records };
  }
  return { records: [] };
}

/**
 * Checks every name against its relevant CAA records before an order is sent (RFC 8659, RFC 8657), so a
 * CA's refusal is met without spending an order. Throws `EdgecertError("caa_forbidden")` naming the name,
 * the record and where it is; lookup failures throw `network` (callers may go on: the CA checks anyway).
 */
export async function checkCaa(names: readonly string[], issuance: CaaIssuance, options: CaaCheckOptions): Promise<void> {
  const lookups = new Map<string, Promise<CaaLookup>>();
  // All names at once; the first refusal in the names' order is reported.
  const relevant = await Promise.all(names.map((name) => relevantCaa(name, options, lookups)));
  for (const [i, name] of names.entries()) {
    const { owner, records } = relevant[i]!;
    if (!owner) continue;
    const refusal = caaRefusal(name, records, issuance);
    if (refusal) {
      const { record } = refusal;
      throw new EdgecertError(
        "caa_forbidden",
        `CAA forbids issuing for ${name}: the record ${owner}. CAA ${record.flags} ${record.tag} "${record.value}" — ${refusal.reason}. Change or add a CAA record for this CA and account, or issue from a CA it allows`,
      );
    }
  }
}
