/** Anything that can answer an http-01 token: a `CertificateManager`, or your own lookup. */
export type Http01Source =
  | { httpChallengeResponse(token: string): Promise<string | undefined> | string | undefined }
  | ((token: string) => Promise<string | undefined> | string | undefined);

/**
 * The part of Hono's `Context` the middleware uses. Declared here, not imported from `hono`, so the
 * signature is public and self-contained; any Hono ≥ 4.6 `Context` has these members.
 */
export interface AcmeChallengeContext {
  /** The request: its URL and method. */
  readonly req: { readonly url: string; readonly method: string };
  /** Hono's `c.body()`: a response with this body, status and headers. */
  body(data: string | null, status: 200 | 404, headers: Record<string, string>): Response;
}

/** Middleware as Hono calls it: `app.use(acmeChallenge(manager))`. */
export type AcmeChallengeMiddleware = (c: AcmeChallengeContext, next: () => Promise<void>) => Promise<Response | void>;

const PREFIX = "/.well-known/acme-challenge/";

/**
 * Hono middleware answering `GET /.well-known/acme-challenge/:token` (RFC 8555 §8.3) from `source`:
 * the key authorization as `text/plain` for a live token, 404 otherwise, never cached. Other requests
 * pass through, so it can sit in front of any app.
 */
export function acmeChallenge(source: Http01Source): AcmeChallengeMiddleware {
  const lookup = typeof source === "function" ? source : (token: string) => source.httpChallengeResponse(token);
  return async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (!path.startsWith(PREFIX) || (c.req.method !== "GET" && c.req.method !== "HEAD")) return next();
    const token = path.slice(PREFIX.length);
    // RFC 8555 §8.1: tokens are base64url; anything else cannot be live.
    const body = /^[A-Za-z0-9_-]{1,256}$/.test(token) ? await lookup(token) : undefined;
    const headers = { "content-type": "text/plain", "cache-control": "no-store" };
    if (body === undefined) return c.body("not found", 404, headers);
    return c.req.method === "HEAD" ? c.body(null, 200, headers) : c.body(body, 200, headers);
  };
}
