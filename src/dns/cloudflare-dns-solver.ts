/**
 * A dns-01 solver (RFC 8555 §8.4) for zones hosted on Cloudflare DNS, over the v4 API with `fetch` only.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { dns01RecordName, dns01TxtValue } from "../acme/challenge-helpers.ts";
import type { RetryPolicy } from "../acme/retry.ts";
import type { ChallengeContext, Solver } from "../acme/solver.ts";
import type { AcmeChallenge } from "../acme/types.ts";
import { CloudflareApi, CloudflareApiError } from "./cloudflare-api.ts";
import { waitForTxt, type DohWaitOptions } from "./wait-for-txt.ts";

/** Options for {@link CloudflareDnsSolver}. */
export interface CloudflareDnsSolverOptions {
  /**
   * An API token with Zone → DNS → Edit, plus Zone → Zone → Read unless `zoneId` is given, for the
   * zones it must solve for.
   */
  apiToken: string;
  /** The zone's id; skips the zone lookup (and the need for Zone → Zone → Read). */
  zoneId?: string;
  /** Default `https://api.cloudflare.com/client/v4`; override to point at a test server. */
  apiBaseUrl?: string;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** TTL of the TXT records in seconds (default 60, the smallest Cloudflare allows outside Enterprise). */
  ttl?: number;
  /**
   * How `wait()` checks that the record is visible: DNS-over-HTTPS options (default: Cloudflare's and
   * Google's public resolvers), or `false` to not wait at all.
   */
  propagation?: DohWaitOptions | false;
  /** API retry behaviour: attempts, backoff, longest acceptable `Retry-After`, per-request timeout. */
  retry?: Partial<RetryPolicy>;
}

/** Cloudflare's "An identical record already exists." */
const IDENTICAL_RECORD = 81058;
/** Cloudflare's "Record does not exist." */
const RECORD_NOT_FOUND = 81044;

interface Zone {
  id: string;
  name: string;
}

interface DnsRecord {
  id: string;
  name?: string;
  content?: string;
}

/** What `present` published for one challenge; `recordId` is unknown until the API confirmed it. */
interface Published {
  zoneId: string;
  name: string;
  value: string;
  recordId?: string;
}

/**
 * Publishes dns-01 TXT records in Cloudflare DNS and removes exactly those again.
 *
 * - The zone is found by longest suffix: for `a.sub.example.com` it asks for `a.sub.example.com`, then
 *   `sub.example.com`, then `example.com`, and takes the first zone the token can see (cached).
 * - Each challenge gets its own record, so a wildcard and its base name (same record name, two values)
 *   coexist; cleanup deletes by the record ids this solver created. Records it did not create survive.
 * - Rate limits (429 + `Retry-After`), 5xx and network failures are retried a bounded number of times;
 *   API refusals become {@link CloudflareApiError} carrying Cloudflare's error codes and messages.
 * - `wait()` polls DNS-over-HTTPS resolvers until they see the value (see `waitForTxt`).
 */
export class CloudflareDnsSolver implements Solver {
  private readonly api: CloudflareApi;
  private readonly zoneId: string | undefined;
  private readonly ttl: number;
  private readonly propagation: DohWaitOptions | false;
  /** Zone lookups by candidate name; a failed lookup is forgotten so it can be retried. */
  private readonly zones = new Map<string, Promise<Zone | undefined>>();
  /** What each challenge (by URL) published. */
  private readonly published = new Map<string, Published>();

  /**
   * A dns-01 solver on the Cloudflare API.
   * @param options The API token and, optionally, the zone and tuning.
   */
  constructor(options: CloudflareDnsSolverOptions) {
    this.api = new CloudflareApi({
      apiToken: options.apiToken,
      ...(options.apiBaseUrl !== undefined ? { apiBaseUrl: options.apiBaseUrl } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
    });
    this.zoneId = options.zoneId;
    this.ttl = options.ttl ?? 60;
    if (!Number.isInteger(this.ttl) || this.ttl < 1) throw new EdgecertError("invalid_input", `invalid TTL ${String(options.ttl)}`);
    this.propagation = options.propagation ?? {};
  }

  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    if (ctx.identifier.type !== "dns") {
      throw new EdgecertError("invalid_input", `dns-01 cannot validate the IP address ${ctx.identifier.value}`);
    }
    const { signal, logger } = ctx;
    const name = dns01RecordName(ctx.identifier.value);
    const value = await dns01TxtValue(ctx.keyAuthorization);
    const zone = await this.zoneFor(ctx.identifier.value, signal);
    const entry: Published = { zoneId: zone.id, name, value };
    // Recorded before the request: if the answer is lost, cleanup still finds the record by its value.
    this.published.set(challenge.url, entry);
    let record: DnsRecord;
    try {
      ({ result: record } = await this.api.request<DnsRecord>("POST", `/zones/${encodeURIComponent(zone.id)}/dns_records`, {
        body: { type: "TXT", name, content: value, ttl: this.ttl },
        signal,
      }));
    } catch (err) {
      // The value is unique to this challenge, so an identical record is ours: a create whose
      // answer was lost and retried, or a present repeated after a crash.
      if (!(err instanceof CloudflareApiError && err.has(IDENTICAL_RECORD))) {
        // A 4xx (429 included) was refused, so nothing exists to clean up; after a 5xx or a
        // network failure the record may exist, and cleanup looks for it by value.
        if (err instanceof CloudflareApiError && err.status < 500) this.published.delete(challenge.url);
        throw err;
      }
      const [existing] = await this.findRecords(zone.id, name, value, signal);
      if (!existing) throw err;
      record = existing;
    }
    if (typeof record?.id !== "string") throw new EdgecertError("bad_response", "Cloudflare API created a DNS record without an id");
    entry.recordId = record.id;
    logger.log("debug", "dns.cloudflare.created", { zone: zone.name, name, record: record.id });
  }

  async wait(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    if (this.propagation === false) return;
    const entry = this.published.get(challenge.url);
    if (!entry) return;
    // Every value this solver has at that name (a wildcard's sibling too): one check covers both.
    const values = [...this.published.values()].filter((p) => p.name === entry.name).map((p) => p.value);
    await waitForTxt(entry.name, values, { logger: ctx.logger, ...this.propagation, signal: ctx.signal });
  }

  async cleanup(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    const entry = this.published.get(challenge.url);
    if (!entry) return;
    // Forgotten even when the API fails: a long-lived solver must not accumulate entries.
    this.published.delete(challenge.url);
    const ids = entry.recordId !== undefined ? [entry.recordId] : (await this.findRecords(entry.zoneId, entry.name, entry.value, ctx.signal)).map((r) => r.id);
    for (const id of ids) {
      try {
        await this.api.request("DELETE", `/zones/${encodeURIComponent(entry.zoneId)}/dns_records/${encodeURIComponent(id)}`, { signal: ctx.signal });
      } catch (err) {
        // Already gone (a retried DELETE, or removed by hand) is what cleanup wanted.
        if (!(err instanceof CloudflareApiError && (err.has(RECORD_NOT_FOUND) || err.status === 404))) throw err;
      }
      ctx.logger.log("debug", "dns.cloudflare.deleted", { name: entry.name, record: id });
    }
  }

  /** TXT records at `name` whose content is exactly `value` (Cloudflare may return it quoted). */
  private async findRecords(zoneId: string, name: string, value: string, signal: AbortSignal): Promise<DnsRecord[]> {
    const records = await this.api.list<DnsRecord>(`/zones/${encodeURIComponent(zoneId)}/dns_records`, {
      query: { type: "TXT", name, content: value },
      perPage: 100,
      signal,
    });
    // Filter again: the server-side filters are a convenience, the match must be exact.
    return records.filter((r) => typeof r.id === "string" && r.name?.toLowerCase() === name.toLowerCase() && unquote(r.content) === value);
  }

  /** The zone holding `name`: the given `zoneId`, or the longest suffix the token can see. */
  private async zoneFor(identifier: string, signal: AbortSignal): Promise<Zone> {
    if (this.zoneId !== undefined) return { id: this.zoneId, name: "(configured)" };
    const labels = identifier.replace(/^\*\./, "").replace(/\.$/, "").toLowerCase().split(".");
    const tried: string[] = [];
    // Zones are registrable domains or below, never a bare TLD: stop at two labels.
    for (let i = 0; i <= labels.length - 2; i++) {
      const candidate = labels.slice(i).join(".");
      tried.push(candidate);
      const zone = await this.lookupZone(candidate, signal);
      if (zone) return zone;
    }
    throw new EdgecertError(
      "challenge_failed",
      `no Cloudflare zone visible to this API token holds ${identifier} (tried ${tried.join(", ")}); ` +
        "check the token's Zone → Zone → Read permission and zone resources, or pass zoneId",
    );
  }

  /** The zone named `candidate`, if the token can see it. */
  private lookupZone(candidate: string, signal: AbortSignal): Promise<Zone | undefined> {
    let pending = this.zones.get(candidate);
    if (!pending) {
      pending = this.api
        .list<{ id?: unknown; name?: unknown; status?: unknown }>("/zones", { query: { name: candidate }, signal })
        .then((zones) => {
          const matches = zones.filter((z) => typeof z.id === "string" && typeof z.name === "string" && z.name.toLowerCase() === candidate);
          // A name can exist as a pending zone in one account and an active one in another.
          const best = matches.find((z) => z.status === "active") ?? matches[0];
          return best ? { id: best.id as string, name: best.name as string } : undefined;
        });
      this.zones.set(candidate, pending);
      pending.catch(() => this.zones.delete(candidate));
    }
    return pending;
  }
}

function unquote(content: string | undefined): string | undefined {
  return content !== undefined && content.length >= 2 && content.startsWith('"') && content.endsWith('"') ? content.slice(1, -1) : content;
}
