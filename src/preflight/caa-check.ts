import { queryCaa, type CaaLookup, type CaaRecord } from "../dns/doh-query.ts";
import { normalizeDnsName } from "../dns/wire-format.ts";
import { EdgecertError } from "../errors.ts";
import type { CaaCache } from "./caa-cache.ts";
import { caaRefusal, type CaaIssuance } from "./caa-policy.ts";

/** Options for {@link checkCaa}. */
export interface CaaCheckOptions {
  /** A DNS-over-HTTPS resolver (RFC 8484, wire format), e.g. `https://cloudflare-dns.com/dns-query`. */
  readonly resolverUrl: string;
  /** A `fetch` to use instead of the global one. */
  readonly fetch?: typeof fetch;
  /** Aborts the lookups. */
  readonly signal?: AbortSignal;
  /** Answers kept across calls for their TTL (see {@link CaaCache}); without it every call asks anew. */
  readonly cache?: CaaCache;
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
 * `lookups` shares answers between calls (one per owner name); `fresh` asks past `options.cache`.
 */
export async function relevantCaa(
  name: string,
  options: CaaCheckOptions,
  lookups: Map<string, Promise<CaaLookup>> = new Map(),
  fresh = false,
): Promise<RelevantCaa> {
  const base = normalizeDnsName(name.replace(/^\*\./, ""));
  if (/^[\d.]+$/.test(base) || base.includes(":")) return { records: [] };
  const labels = base.split(".");
  for (let i = 0; i < labels.length; i++) {
    const owner = labels.slice(i).join(".");
    // Names of one certificate share parents: each owner is asked once.
    let pending = lookups.get(owner);
    if (!pending) {
      const fetchOption = options.fetch ? { fetch: options.fetch } : {};
      const signal = options.signal ? { signal: options.signal } : {};
      // A cached query may answer other callers too: it runs without this caller's signal (its own timeout bounds it).
      pending = options.cache
        ? options.cache.lookup(owner, () => queryCaa(options.resolverUrl, owner, fetchOption), { fresh, ...signal })
        : queryCaa(options.resolverUrl, owner, { ...fetchOption, ...signal });
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
  const hits = options.cache?.stats.hits;
  let found = await firstRefusal(names, issuance, options, false);
  // Cached answers only ever let an order go: a refusal that read any is confirmed with fresh lookups
  // (the records may have been fixed since), and the fresh answers replace the cached ones.
  if (found && options.cache && options.cache.stats.hits !== hits) found = await firstRefusal(names, issuance, options, true);
  if (!found) return;
  const { name, owner, refusal } = found;
  const { record } = refusal;
  throw new EdgecertError(
    "caa_forbidden",
    `CAA forbids issuing for ${name}: the record ${owner}. CAA ${record.flags} ${record.tag} "${record.value}" — ${refusal.reason}. Change or add a CAA record for this CA and account, or issue from a CA it allows`,
  );
}

/** The first name, in the names' order, whose relevant CAA records refuse `issuance`. */
async function firstRefusal(names: readonly string[], issuance: CaaIssuance, options: CaaCheckOptions, fresh: boolean) {
  const lookups = new Map<string, Promise<CaaLookup>>();
  // All names at once; names of one certificate share parents, each asked once.
  const relevant = await Promise.all(names.map((name) => relevantCaa(name, options, lookups, fresh)));
  for (const [i, name] of names.entries()) {
    const { owner, records } = relevant[i]!;
    const refusal = owner ? caaRefusal(name, records, issuance) : undefined;
    if (refusal) return { name, owner: owner!, refusal };
  }
  return undefined;
}
