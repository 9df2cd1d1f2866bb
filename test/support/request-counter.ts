/**
 * fetch wrapper that records every request, for asserting request counts in tests.
 * @module
 */

/** One recorded request. `status` is 0 when the fetch threw. */
export interface RecordedRequest {
  method: string;
  url: string;
  status: number;
  /**
   * The `status` of the ACME object in a JSON response (an order's, authorization's or challenge's, RFC
   * 8555 §7.1), or a problem's `type` for an error: what the CA said its state was at that moment.
   */
  acmeStatus?: string;
}

/** Result of {@link countingFetch}. */
export interface CountingFetch {
  /** The wrapped fetch; use it in place of `inner`. */
  fetch: typeof fetch;
  /** Number of calls made through {@link CountingFetch.fetch} since the last reset. */
  count(): number;
  /** Recorded calls, in call order (a live array, cleared in place by reset). */
  requests: RecordedRequest[];
  /** Clears the recorded calls. */
  reset(): void;
  /** Requests made only for a nonce (RFC 8555 §7.2 newNonce, HEAD or GET; Pebble's is `/nonce-plz`). */
  nonceRequests(): number;
}

/** Wraps `inner` so each call's method (from init or Request, default GET), URL and status is recorded. */
export function countingFetch(inner: typeof fetch): CountingFetch {
  const requests: RecordedRequest[] = [];
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const isRequest = typeof input === "object" && !(input instanceof URL);
    const method = (init?.method ?? (isRequest ? input.method : "GET")).toUpperCase();
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const entry: RecordedRequest = { method, url, status: 0 };
    requests.push(entry);
    const response = await inner(input, init);
    entry.status = response.status;
    if (/json/i.test(response.headers.get("content-type") ?? "")) {
      // A clone's body is read before the caller sees the response: the caller's copy is unaffected.
      const said = await response.clone().json().catch(() => undefined) as { status?: unknown; type?: unknown } | undefined;
      const state = response.ok ? said?.status : said?.type;
      if (typeof state === "string") entry.acmeStatus = state;
    }
    return response;
  };
  return {
    fetch: wrapped as typeof fetch,
    count: () => requests.length,
    requests,
    reset: () => {
      requests.length = 0;
    },
    nonceRequests: () => requests.filter((r) => r.method !== "POST" && /nonce/i.test(new URL(r.url).pathname)).length,
  };
}

/**
 * The requests among `requests` that found order `orderUrl` still being worked on by the CA: polls of the
 * order answered `pending` (validation running) or `processing` (issuance running), RFC 8555 §7.1.6, and
 * finalizes refused as `orderNotReady` (§7.4). Pebble validates and issues on goroutines of its own
 * (Pebble 2.4 wfe.go answers a finalize `processing` and runs `go wfe.ca.CompleteOrder(order)`; it sends
 * no Retry-After), so how many polls find the order unsettled follows the machine's load, not the
 * client. A request budget counts everything else — in each phase, the poll that found the order settled.
 */
export function unsettledPolls(requests: readonly RecordedRequest[], orderUrl: string): RecordedRequest[] {
  return requests.filter((r) =>
    r.url === orderUrl
      ? r.status === 200 && (r.acmeStatus === "pending" || r.acmeStatus === "processing")
      : r.status === 403 && r.acmeStatus === "urn:ietf:params:acme:error:orderNotReady",
  );
}
