/**
 * Let's Encrypt's issuance rate limits in front of an ACME server, on their own clock (accelerated in
 * tests, real time in front of Pebble for the Worker). It wraps the server's `fetch` (the in-process
 * stand-in CA's, or Pebble's on a Worker's outbound path), so it sits on the HTTP(S) path between the
 * client and the CA. It follows https://letsencrypt.org/docs/rate-limits/ for what it enforces, each a
 * token bucket refilled continuously up to its size:
 * - New Orders per Account: checked and spent at newOrder.
 * - Certificates per Registered Domain (across accounts; IPv4 address / IPv6 /64 as one domain):
 *   checked at newOrder, spent when the certificate is issued (finalize).
 * - New Certificates per Exact Set of Identifiers: checked at newOrder, spent at finalize.
 * - Renewals naming the certificate they replace (ARI `replaces`, RFC 9773 §5) are exempt from all.
 * A refusal is `urn:ietf:params:acme:error:rateLimited` with HTTP 429, a `Retry-After` in seconds
 * (RFC 8555 §6.6) for when the bucket holds a token again, and Let's Encrypt's wording in `detail`.
 * Registered domains come from `registeredDomain` (an independent re-implementation would need a
 * second copy of the Public Suffix List; the tests' names use plain .test/.example domains).
 * Its buckets are counted here independently of the client's budget code.
 */
import { registeredDomain } from "../../src/budget/registered-domain.ts";
import { base64urlDecode } from "../../src/webcrypto/base64url.ts";

/** `count` per `periodMs`. */
export interface Limit {
  count: number;
  periodMs: number;
}

/** The limits to enforce (absent: not enforced). */
export interface RateLimitingOptions {
  now: () => number;
  ordersPerAccount?: Limit;
  certificatesPerDomain?: Limit;
  certificatesPerNameSet?: Limit;
  /**
   * Looks up an order's identifiers by its URL (finalize carries only the order's URL). Optional: the
   * identifiers of every order created through the wrapper are also kept by its `finalize` URL (RFC
   * 8555 §7.1.3), which is how it finds them in front of a server whose finalize URL is not the order
   * URL + `/finalize` (Pebble's `/finalize-order/<id>`).
   */
  orderNames?: (orderUrl: string) => string[] | undefined;
}

/** A refusal it sent or a request it let through. */
export interface LimitEvent {
  at: number;
  kind: "newOrder" | "finalize";
  account: string;
  names: string[];
  refused?: string;
}

class Bucket {
  tokens: number;
  at: number;
  constructor(
    readonly limit: Limit,
    now: number,
  ) {
    this.tokens = limit.count;
    this.at = now;
  }
  #refill(now: number) {
    // A request stamped a moment before the bucket was made (or before the last one) refills nothing:
    // never a negative refill, which would refuse a full bucket's first request.
    if (now <= this.at) return;
    const rate = this.limit.count / this.limit.periodMs;
    this.tokens = Math.min(this.limit.count, this.tokens + (now - this.at) * rate);
    this.at = now;
  }
  /** Milliseconds until one token is there (0: there is one now). */
  wait(now: number): number {
    this.#refill(now);
    return this.tokens >= 1 - 1e-9 ? 0 : Math.ceil((1 - this.tokens) / (this.limit.count / this.limit.periodMs));
  }
  take(now: number) {
    this.#refill(now);
    this.tokens -= 1;
  }
}

/** Wraps `fetch` (the ACME server's) with the limits; `events` records every newOrder and finalize. */
export function rateLimitingCa(upstream: typeof fetch, options: RateLimitingOptions) {
  const buckets = new Map<string, Bucket>();
  const events: LimitEvent[] = [];
  /** Orders created with `replaces` (by order URL and finalize URL): their certificates spend nothing either. */
  const replacements = new Set<string>();
  /** Identifiers of the orders created through this wrapper, by finalize URL. */
  const finalizeNames = new Map<string, string[]>();
  const bucket = (key: string, limit: Limit) => {
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = new Bucket(limit, options.now())));
    return b;
  };
  const needed = (account: string, names: string[], atNewOrder: boolean) => {
    const list: Array<{ b: Bucket; what: string }> = [];
    if (atNewOrder && options.ordersPerAccount) list.push({ b: bucket(`orders:${account}`, options.ordersPerAccount), what: `too many new orders (${options.ordersPerAccount.count}) from this account recently` });
    if (options.certificatesPerDomain) {
      for (const d of new Set(names.map((n) => registeredDomain(n)))) list.push({ b: bucket(`domain:${d}`, options.certificatesPerDomain), what: `too many certificates (${options.certificatesPerDomain.count}) already issued for "${d}" recently` });
    }
    if (options.certificatesPerNameSet) {
      const set = [...names].map((n) => n.toLowerCase()).sort().join(",");
      list.push({ b: bucket(`set:${set}`, options.certificatesPerNameSet), what: `too many certificates (${options.certificatesPerNameSet.count}) already issued for this exact set of identifiers recently` });
    }
    return list;
  };
  const refuse = (what: string, waitMs: number) =>
    new Response(JSON.stringify({ type: "urn:ietf:params:acme:error:rateLimited", status: 429, detail: `${what}, retry after ${new Date(options.now() + waitMs).toISOString()}` }), {
      status: 429,
      headers: { "content-type": "application/problem+json", "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) },
    });

  const wrapped: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    // A Request (a Worker's outbound request) carries its body itself.
    const body = typeof init?.body === "string" ? init.body : typeof input === "object" && "clone" in input && init?.body === undefined && input.method === "POST" ? await input.clone().text() : "";
    const isNewOrder = url.endsWith("/new-order") || url.endsWith("/order-plz");
    const isFinalize = url.endsWith("/finalize") || url.includes("/finalize-order/");
    if ((!isNewOrder && !isFinalize) || !body) return upstream(input, init);
    const jws = JSON.parse(body) as { protected: string; payload: string };
    const header = JSON.parse(new TextDecoder().decode(base64urlDecode(jws.protected))) as { kid?: string };
    const payload = jws.payload ? (JSON.parse(new TextDecoder().decode(base64urlDecode(jws.payload))) as { identifiers?: Array<{ value: string }>; replaces?: string }) : {};
    const account = header.kid ?? "";
    const now = options.now();
    if (isNewOrder) {
      const names = (payload.identifiers ?? []).map((i) => i.value);
      if (!payload.replaces) {
        // "New Orders per Account" (checked first, as it is the one spent here), then "Certificates per
        // Registered Domain" and "New Certificates per Exact Set of Identifiers": a newOrder is refused
        // while any of them is empty, before the server sees it.
        for (const { b, what } of needed(account, names, true)) {
          const wait = b.wait(now);
          if (wait > 0) {
            events.push({ at: now, kind: "newOrder", account, names, refused: what });
            return refuse(what, wait);
          }
        }
        if (options.ordersPerAccount) bucket(`orders:${account}`, options.ordersPerAccount).take(now);
      }
      events.push({ at: now, kind: "newOrder", account, names });
      const response = await upstream(input, init);
      const location = response.headers.get("location");
      if (payload.replaces && location) replacements.add(location);
      const finalize = response.status === 201 ? ((await response.clone().json().catch(() => ({}))) as { finalize?: unknown }).finalize : undefined;
      if (typeof finalize === "string") {
        finalizeNames.set(finalize, names);
        if (payload.replaces) replacements.add(finalize);
      }
      return response;
    }
    const orderUrl = url.replace(/\/finalize$/, "");
    const names = finalizeNames.get(url) ?? options.orderNames?.(orderUrl) ?? [];
    const response = await upstream(input, init);
    if (response.ok) {
      // Issued: the certificate spends its "Certificates per Registered Domain" token for each of its
      // registered domains and its "Exact Set of Identifiers" token, unless it replaces one (ARI).
      if (!replacements.has(orderUrl) && !replacements.has(url)) for (const { b } of needed(account, names, false)) b.take(now);
      events.push({ at: now, kind: "finalize", account, names });
    }
    return response;
  };
  return { fetch: wrapped, events, refusals: () => events.filter((e) => e.refused) };
}
