import { http01Path } from "../challenge-helpers.ts";
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeChallenge } from "../types.ts";

const PREFIX = "/.well-known/acme-challenge/";

/**
 * An http-01 solver that keeps live tokens in memory (RFC 8555 §8.3). Any HTTP server answers with it:
 * call {@link respond} with the request path (or {@link handle} with a `Request`) on port 80.
 */
export class Http01Solver implements Solver {
  private readonly tokens = new Map<string, string>();

  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    this.tokens.set(challenge.token, ctx.keyAuthorization);
  }

  async cleanup(challenge: AcmeChallenge, _ctx?: ChallengeContext): Promise<void> {
    this.tokens.delete(challenge.token);
  }

  /** The key authorization to serve for a request path, or undefined (answer 404). Query strings are ignored. */
  respond(path: string): string | undefined {
    const bare = path.split("?")[0] ?? "";
    if (!bare.startsWith(PREFIX)) return undefined;
    return this.tokens.get(bare.slice(PREFIX.length));
  }

  /** A fetch-style handler: the challenge response for a live token, otherwise undefined. */
  handle(request: Request): Response | undefined {
    if (request.method !== "GET" && request.method !== "HEAD") return undefined;
    const body = this.respond(new URL(request.url).pathname);
    if (body === undefined) return undefined;
    // RFC 8555 §8.3: the body is the key authorization; no caching of short-lived tokens.
    return new Response(request.method === "HEAD" ? null : body, {
      headers: { "content-type": "application/octet-stream", "cache-control": "no-store" },
    });
  }

  /** Number of live tokens. */
  get size(): number {
    return this.tokens.size;
  }

  /** The path a token is served at. */
  static path(token: string): string {
    return http01Path(token);
  }
}
