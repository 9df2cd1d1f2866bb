import { timeoutSignal } from "../../abort.ts";
import { EdgecertError } from "../../errors.ts";
import { http01Path } from "../challenge-helpers.ts";
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeChallenge } from "../types.ts";

/** Options for {@link withHttp01SelfCheck}. */
export interface Http01SelfCheckOptions {
  /** A `fetch` to use instead of the global one (e.g. one that resolves the names differently). */
  readonly fetch?: typeof fetch;
  /** Attempts before giving up (a server or CDN may take a moment to serve a new token). Default 4. */
  readonly attempts?: number;
  /** Wait before the second attempt, doubled each time. Default 500 ms. */
  readonly delayMs?: number;
  /** Per-request timeout. Default 5 000 ms. */
  readonly timeoutMs?: number;
}

/**
 * `solver` with a self-check before each http-01 challenge is answered: the token is fetched through
 * the public path the CA will use (`http://<name>/.well-known/acme-challenge/<token>`, port 80, RFC
 * 8555 §8.3), and unless the body is the key authorization the challenge is not accepted — the order
 * fails with `challenge_failed` saying what the name served, before the CA spends a validation (and
 * before Let's Encrypt counts a failed one). Only where the runtime can reach its own names; the CA's
 * view (other networks, other resolvers) can still differ.
 */
export function withHttp01SelfCheck(solver: Solver, options: Http01SelfCheckOptions = {}): Solver {
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const attempts = Math.max(1, options.attempts ?? 4);
  const delayMs = options.delayMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 5_000;
  return {
    present: (challenge, ctx) => solver.present(challenge, ctx),
    cleanup: (challenge, ctx) => solver.cleanup(challenge, ctx),
    async wait(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
      await solver.wait?.(challenge, ctx);
      if (challenge.type !== "http-01") return;
      const host = ctx.identifier.type === "ip" && ctx.identifier.value.includes(":") ? `[${ctx.identifier.value}]` : ctx.identifier.value;
      const url = `http://${host}${http01Path(challenge.token)}`;
      let seen = "";
      for (let attempt = 1; attempt <= attempts; attempt++) {
        // A timer stopped with the fetch: AbortSignal.timeout's stays pending (and keeps a Durable Object in memory).
        const timeout = timeoutSignal(timeoutMs);
        try {
          const signal = AbortSignal.any([ctx.signal, timeout.signal]);
          const res = await fetchFn(url, { redirect: "follow", signal });
          const body = (await res.text()).trim();
          if (res.status === 200 && body === ctx.keyAuthorization) return;
          seen = `HTTP ${res.status}${body ? ` "${body.slice(0, 80)}"` : ""}`;
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          seen = `no answer (${err instanceof Error ? err.message : String(err)})`;
        } finally {
          timeout.clear();
        }
        if (attempt < attempts) await new Promise((r) => setTimeout(r, delayMs * 2 ** (attempt - 1)));
      }
      throw new EdgecertError(
        "challenge_failed",
        `http-01 self-check for ${ctx.identifier.value}: ${url} gave ${seen}, not the key authorization, so the challenge was not answered (the CA would fail it). Check that the name points at this server and that port 80 reaches the challenge handler`,
      );
    },
  };
}
