import { answerPlainHttp, type ChallengeResponder, type PlainHttpOptions } from "./plain-http.ts";

/** A fetch-style request handler, as `Bun.serve` and `Deno.serve` take. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Options for {@link acmeHttpHandler}. */
export interface AcmeHttpHandlerOptions extends PlainHttpOptions {
  /** Serves what is not an http-01 request, instead of the redirect to HTTPS. */
  fallback?: FetchHandler;
}

/**
 * A fetch-style handler for the plain-HTTP port (autocert's `HTTPHandler`): answers
 * `/.well-known/acme-challenge/<token>` from `manager.httpChallengeResponse`, and redirects everything
 * else to HTTPS with a 301 (or hands it to `fallback`). Works in Bun, Deno, Workers and Node's fetch
 * servers alike.
 */
export function acmeHttpHandler(manager: ChallengeResponder, options: AcmeHttpHandlerOptions = {}): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    const answer = await answerPlainHttp(
      manager,
      { method: request.method, host: request.headers.get("host") ?? url.host, target: url.pathname + url.search },
      { ...options, hasFallback: options.fallback !== undefined },
    );
    if (answer === "fallback") return options.fallback!(request);
    return new Response(request.method === "HEAD" ? null : answer.body, { status: answer.status, headers: answer.headers });
  };
}
