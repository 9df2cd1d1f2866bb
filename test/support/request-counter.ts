/**
 * fetch wrapper that records every request, for asserting request counts in tests.
 * @module
 */

/** One recorded request. `status` is 0 when the fetch threw. */
export interface RecordedRequest {
  method: string;
  url: string;
  status: number;
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
