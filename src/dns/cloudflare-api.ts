/**
 * A minimal client for the Cloudflare v4 API (`https://api.cloudflare.com/client/v4`): bearer-token
 * requests, the `{ success, errors, messages, result, result_info }` envelope, pagination, and bounded
 * retries of rate limits (429 + `Retry-After`), 5xx and network failures. `fetch` only.
 * @module
 */
import { timeoutSignal } from "../abort.ts";
import { EdgecertError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import { readBodyText } from "../acme/http-response.ts";
import {
  abortError,
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  sleep,
  throwIfAborted,
  type RetryPolicy,
} from "../acme/retry.ts";

/** Cloudflare's API root. */
export const CLOUDFLARE_API_BASE_URL = "https://api.cloudflare.com/client/v4";

/** One entry of an envelope's `errors` (or `messages`) array. */
export interface CloudflareApiMessage {
  /** Cloudflare's error code. */
  code: number;
  /** Cloudflare's message. */
  message: string;
}

/**
 * The Cloudflare API refused a request (`success: false` or a non-2xx status). `code` is
 * `"challenge_failed"`; `errors` holds the API's own codes and messages (e.g. 9109 "Invalid access
 * token", 81058 "An identical record already exists.").
 */
export class CloudflareApiError extends EdgecertError {
  /** HTTP status of the response. */
  readonly status: number;
  /** The envelope's `errors`, including nested `error_chain` entries, in order. */
  readonly errors: CloudflareApiMessage[];
  /** The HTTP method of the failed call. */
  readonly method: string;
  /** The request path below the API root, e.g. `/zones/…/dns_records` (never the token). */
  readonly path: string;
  /** How long the API asked us to wait, in ms, when it sent `Retry-After`. */
  readonly retryAfterMs: number | undefined;

  /**
   * A failed Cloudflare API call.
   * @param method HTTP method.
   * @param path API path.
   * @param status HTTP status.
   * @param errors Cloudflare's errors.
   */
  constructor(
    details: { status: number; errors: CloudflareApiMessage[]; method: string; path: string; retryAfterMs?: number },
    options?: { cause?: unknown },
  ) {
    const what = details.errors.length > 0 ? details.errors.map((e) => `${e.code} ${e.message}`).join("; ") : "(no error details)";
    super("challenge_failed", `Cloudflare API ${details.method} ${details.path} failed with HTTP ${details.status}: ${what}`, options);
    this.name = "CloudflareApiError";
    this.status = details.status;
    this.errors = details.errors;
    this.method = details.method;
    this.path = details.path;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** True when the API reported error `code` (anywhere in the chain). */
  has(code: number): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

/** Options for {@link CloudflareApi}. */
export interface CloudflareApiOptions {
  /** An API token (not the global API key), sent as `Authorization: Bearer …`. */
  apiToken: string;
  /** Default {@link CLOUDFLARE_API_BASE_URL}; override to point at a test server. */
  apiBaseUrl?: string;
  fetch?: typeof fetch;
  /** Retry behaviour (attempts, backoff, longest acceptable `Retry-After`, per-request timeout). */
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
}

/** Query parameters; undefined values are left out. */
export type CloudflareQuery = Record<string, string | number | undefined>;

/** Most pages {@link CloudflareApi.list} reads before giving up (bounded loop). */
const MAX_PAGES = 100;

/** Requests to the Cloudflare v4 API. */
export class CloudflareApi {
  private readonly token: string;
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly retry: RetryPolicy;
  private readonly logger: Logger;

  constructor(options: CloudflareApiOptions) {
    if (typeof options.apiToken !== "string" || options.apiToken.trim() === "") {
      throw new EdgecertError("invalid_input", "a Cloudflare API token is required");
    }
    this.token = options.apiToken.trim();
    this.base = (options.apiBaseUrl ?? CLOUDFLARE_API_BASE_URL).replace(/\/+$/, "");
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.logger = options.logger ?? silentLogger;
  }

  /** One request; returns the envelope's `result` (and `result_info` when present). */
  async request<T>(
    method: "GET" | "POST" | "DELETE",
    path: string,
    options: { query?: CloudflareQuery; body?: unknown; signal?: AbortSignal } = {},
  ): Promise<{ result: T; resultInfo: ResultInfo | undefined }> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const shownPath = url.pathname.slice(new URL(this.base).pathname.replace(/\/+$/, "").length) + url.search;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const { signal } = options;

    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      // Stopped with the request: AbortSignal.timeout's timer would stay pending (and keep a Durable Object in memory).
      const timer = timeoutSignal(this.retry.requestTimeoutMs);
      const timeout = timer.signal;
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let status: number;
      let text: string;
      let retryAfterMs: number | undefined;
      try {
        const res = await this.fetchFn(url.href, { method, headers, ...(body !== undefined ? { body } : {}), signal: combined });
        status = res.status;
        retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
        text = await readBodyText(res, `${this.base}${shownPath}`);
        timer.clear();
      } catch (cause) {
        timer.clear();
        if (signal?.aborted) throw abortError(signal);
        const what = timeout.aborted ? `timed out after ${this.retry.requestTimeoutMs} ms` : String(cause);
        const err = new EdgecertError("network", `Cloudflare API ${method} ${shownPath} failed: ${what}`, { cause });
        // A POST whose answer was lost may have created the record; a retry then meets
        // 81058 "identical record", which the DNS solver treats as its own record.
        if (attempt >= this.retry.maxAttempts) throw err;
        const delay = backoffDelay(attempt - 1, this.retry.baseDelayMs, this.retry.maxDelayMs);
        this.logger.log("warn", "cloudflare.retry", { method, path: shownPath, reason: err.message, delayMs: Math.round(delay) });
        await sleep(delay, signal);
        continue;
      }

      const envelope = parseEnvelope(text);
      const ok = status >= 200 && status < 300 && envelope?.success === true;
      if (ok) return { result: envelope!.result as T, resultInfo: envelope!.resultInfo };

      const errors = envelope?.errors ?? [{ code: 0, message: snippet(text) || `HTTP ${status}` }];
      const details = { status, errors, method, path: shownPath, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
      const error = new CloudflareApiError(details);
      // Cloudflare rate-limits API use (HTTP 429 with Retry-After); 5xx are transient too.
      const transient = status === 429 || status >= 500;
      if (transient && attempt < this.retry.maxAttempts) {
        if (retryAfterMs !== undefined && retryAfterMs > this.retry.maxRetryAfterMs) throw error;
        const delay = retryAfterMs ?? backoffDelay(attempt - 1, this.retry.baseDelayMs, this.retry.maxDelayMs);
        this.logger.log("warn", "cloudflare.retry", { method, path: shownPath, status, delayMs: Math.round(delay) });
        await sleep(delay, signal);
        continue;
      }
      throw error;
    }
  }

  /** Every item of a paginated list (`page` / `per_page` until `result_info.total_pages`), at most 100 pages. */
  async list<T>(path: string, options: { query?: CloudflareQuery; perPage?: number; signal?: AbortSignal } = {}): Promise<T[]> {
    const items: T[] = [];
    const perPage = options.perPage ?? 50;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const { result, resultInfo } = await this.request<unknown>("GET", path, {
        query: { ...options.query, page, per_page: perPage },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (!Array.isArray(result)) {
        throw new EdgecertError("bad_response", `Cloudflare API GET ${path}: result is not a list`);
      }
      items.push(...(result as T[]));
      const totalPages = resultInfo?.totalPages;
      const last = totalPages !== undefined ? page >= totalPages : result.length < (resultInfo?.perPage ?? perPage);
      if (last || result.length === 0) return items;
    }
    throw new EdgecertError("bad_response", `Cloudflare API GET ${path}: more than ${MAX_PAGES} pages`);
  }
}

/** The pagination block of a list response. */
export interface ResultInfo {
  page?: number;
  perPage?: number;
  totalPages?: number;
  count?: number;
  totalCount?: number;
}

interface Envelope {
  success: boolean;
  errors: CloudflareApiMessage[];
  result: unknown;
  resultInfo: ResultInfo | undefined;
}

/** Reads the v4 envelope leniently; undefined when the body is not one (e.g. an HTML error page). */
function parseEnvelope(text: string): Envelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.success !== "boolean") return undefined;
  const errors: CloudflareApiMessage[] = [];
  const collect = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const e of list) {
      if (typeof e !== "object" || e === null) continue;
      const { code, message, error_chain } = e as Record<string, unknown>;
      errors.push({ code: typeof code === "number" ? code : 0, message: typeof message === "string" ? message : "" });
      // Cloudflare nests causes, e.g. 6003 "Invalid request headers" → 6111 "Invalid format for Authorization header".
      if (errors.length < 20) collect(error_chain);
    }
  };
  collect(v.errors);
  const info = v.result_info;
  let resultInfo: ResultInfo | undefined;
  if (typeof info === "object" && info !== null) {
    const i = info as Record<string, unknown>;
    const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : undefined);
    resultInfo = {};
    const set = (key: keyof ResultInfo, x: unknown) => {
      const n = num(x);
      if (n !== undefined) resultInfo![key] = n;
    };
    set("page", i.page);
    set("perPage", i.per_page);
    set("totalPages", i.total_pages);
    set("count", i.count);
    set("totalCount", i.total_count);
  }
  return { success: v.success, errors, result: v.result, resultInfo };
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, " ").trim();
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
