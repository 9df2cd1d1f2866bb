import type { CertificateManager } from "../manager/certificate-manager.ts";

/** Where the CA fetches http-01 responses (RFC 8555 §8.3). */
const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
/** `host` or `host:port`, with IPv6 literals in brackets; nothing else may reach a Location header. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/** The part of the manager the plain-HTTP port needs. */
export type ChallengeResponder = Pick<CertificateManager, "httpChallengeResponse">;

/** Options for the plain-HTTP port: http-01 answers, everything else redirected to HTTPS. */
export interface PlainHttpOptions {
  /** The port redirects point at. Default 443, which is left out of the URL. */
  httpsPort?: number;
}

/** A response for the plain-HTTP port, independent of the runtime's HTTP API. */
export interface PlainHttpAnswer {
  status: number;
  headers: Record<string, string>;
  /** Empty for HEAD. */
  body: string;
}

/** The request facts the plain-HTTP port decides on. */
export interface PlainHttpRequest {
  method: string;
  /** The Host header. */
  host: string | undefined;
  /** The request target: path and query (`/a?b`). */
  target: string;
}

/**
 * What the plain-HTTP port answers, like autocert's `HTTPHandler`: the key authorization for a live
 * http-01 token (404 for an unknown one), `"fallback"` for anything else when the caller has a fallback
 * handler, otherwise a 301 to the same URL over HTTPS for GET/HEAD and 400 for other methods (a
 * redirect would turn them into GETs).
 */
export async function answerPlainHttp(
  manager: ChallengeResponder,
  request: PlainHttpRequest,
  options: PlainHttpOptions & { hasFallback?: boolean } = {},
): Promise<PlainHttpAnswer | "fallback"> {
  const head = request.method === "HEAD";
  const text = (status: number, body: string, headers: Record<string, string> = {}): PlainHttpAnswer => ({
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
    body: head ? "" : body,
  });
  const path = request.target.split("?")[0] ?? "";
  if (path.startsWith(CHALLENGE_PREFIX)) {
    if (request.method !== "GET" && !head) return text(405, "method not allowed\n", { allow: "GET, HEAD" });
    const keyAuthorization = await manager.httpChallengeResponse(path.slice(CHALLENGE_PREFIX.length));
    if (keyAuthorization === undefined) return text(404, "no such challenge\n");
    // RFC 8555 §8.3: the body is the key authorization itself; tokens are short-lived, never cache.
    return {
      status: 200,
      headers: { "content-type": "application/octet-stream", "cache-control": "no-store" },
      body: head ? "" : keyAuthorization,
    };
  }
  if (options.hasFallback) return "fallback";
  if (request.method !== "GET" && !head) return text(400, "Use HTTPS\n");
  const location = httpsLocation(request.host, request.target, options.httpsPort ?? 443);
  if (location === undefined) return text(400, "bad Host header\n");
  return text(301, `${location}\n`, { location });
}

/** `https://host[:port]/target` for a Host header, or undefined when the header is not a plain host. */
export function httpsLocation(host: string | undefined, target: string, httpsPort: number): string | undefined {
  const match = host === undefined ? null : HOST_HEADER.exec(host);
  if (!match) return undefined;
  const hostname = match[1]!.toLowerCase();
  // Absolute-form targets (proxy style) keep only their path; anything odd becomes "/".
  let pathAndQuery = target.startsWith("/") && !target.startsWith("//") ? target : "/";
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      pathAndQuery = url.pathname + url.search;
    } catch {
      pathAndQuery = "/";
    }
  }
  return `https://${hostname}${httpsPort === 443 ? "" : `:${httpsPort}`}${pathAndQuery}`;
}
