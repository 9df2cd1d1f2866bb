/**
 * Waiting for a TXT record to propagate, checked through DNS-over-HTTPS resolvers.
 *
 * Limitation: DoH only reaches recursive resolvers. A zone's authoritative servers cannot be addressed
 * directly over HTTPS (they speak DNS on port 53, which `fetch` cannot), so this cannot ask "the source
 * of truth". Instead it asks several independent resolvers and requires every one of them to see every
 * expected value. Two consequences to know about:
 * - A resolver that was asked before the record existed may cache the negative answer for the zone's
 *   SOA minimum TTL (RFC 2308 §5), often 30 minutes or more; hence the first query waits
 *   `initialDelayMs`, and a wait that times out usually means that, not a failed write.
 * - A CA validates through its own resolvers, so "visible at 1.1.1.1 and 8.8.8.8" is strong evidence,
 *   not proof.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import { backoffDelay, sleep, throwIfAborted } from "../acme/retry.ts";
import { queryTxt, type DohFormat } from "./doh-query.ts";

/** Public resolvers that answer RFC 8484 GET requests (and the JSON format at the same URLs). */
export const DEFAULT_DOH_RESOLVERS: readonly string[] = ["https://cloudflare-dns.com/dns-query", "https://dns.google/dns-query"];

/** How to check propagation over DNS-over-HTTPS. Every field has a default. */
export interface DohWaitOptions {
  /** DoH endpoint URLs; every one must see every value (default {@link DEFAULT_DOH_RESOLVERS}). */
  resolvers?: readonly string[];
  /** `"wire"` (RFC 8484 `application/dns-message`, default) or `"json"` (`application/dns-json`). */
  format?: DohFormat;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Give up after this many ms with `EdgecertError("timeout")` (default 120 000). */
  timeoutMs?: number;
  /** Wait before the first query, and the first gap between queries (default 2 000). */
  initialDelayMs?: number;
  /** Cap on one gap between queries; gaps double with jitter up to it (default 10 000). */
  maxDelayMs?: number;
  /** Most query rounds (default 100); reaching it is a timeout too. */
  maxPolls?: number;
  /** Per-request timeout in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Ask with CD (checking disabled), for zones whose DNSSEC is broken at some resolvers. */
  checkingDisabled?: boolean;
  /** Structured logger; silent by default. */
  logger?: Logger;
}

/** Smallest gap between two rounds, so `initialDelayMs: 0` cannot turn into a busy loop. */
const MIN_DELAY_MS = 10;

const RCODE_NAMES: Record<number, string> = { 0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED" };

/**
 * Polls every resolver until each one returns all of `expectedValues` among the TXT values at `name`
 * (extra values, e.g. a wildcard's sibling challenge, are fine). Resolvers that have seen everything are
 * not asked again. Transient failures (network, 5xx, SERVFAIL, unparseable answers) are retried until the
 * deadline; a resolver that answers a 4xx is misconfigured and fails at once with `invalid_input`.
 * Throws `EdgecertError("timeout")` naming what is still missing where, or `EdgecertError("aborted")`.
 */
export async function waitForTxt(
  name: string,
  expectedValues: readonly string[],
  options: DohWaitOptions & { signal?: AbortSignal } = {},
): Promise<void> {
  const resolvers = [...(options.resolvers ?? DEFAULT_DOH_RESOLVERS)];
  if (resolvers.length === 0) throw new EdgecertError("invalid_input", "waitForTxt needs at least one DoH resolver");
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const baseDelay = Math.max(MIN_DELAY_MS, options.initialDelayMs ?? 2_000);
  const maxDelay = Math.max(baseDelay, options.maxDelayMs ?? 10_000);
  const maxPolls = options.maxPolls ?? 100;
  const { signal } = options;
  const deadline = Date.now() + timeoutMs;
  const expected = [...new Set(expectedValues)];
  const pending = new Map<string, string>(resolvers.map((r) => [r, "not asked yet"]));
  /** Each resolver's last answer that lacked a value, kept across later transport failures. */
  const answers = new Map<string, string>();

  const started = Date.now();
  await sleep(Math.min(baseDelay, timeoutMs), signal);
  let round = 0;
  while (round < maxPolls) {
    throwIfAborted(signal);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await Promise.all(
      [...pending.keys()].map(async (resolver) => {
        try {
          const lookup = await queryTxt(resolver, name, {
            format: options.format ?? "wire",
            ...(options.fetch ? { fetch: options.fetch } : {}),
            checkingDisabled: options.checkingDisabled === true,
            requestTimeoutMs: Math.max(1, Math.min(options.requestTimeoutMs ?? 10_000, remaining)),
            ...(signal ? { signal } : {}),
          });
          const missing = expected.filter((v) => !lookup.values.includes(v));
          if (missing.length === 0) {
            pending.delete(resolver);
            logger.log("debug", "dns.propagated", { name, resolver, rounds: round + 1 });
          } else {
            const rcode = RCODE_NAMES[lookup.rcode] ?? `RCODE ${lookup.rcode}`;
            const answered = `${missing.length} of ${expected.length} value(s) missing; answer ${rcode} with ${lookup.values.length} TXT value(s)`;
            answers.set(resolver, answered);
            pending.set(resolver, answered);
          }
        } catch (err) {
          // Misconfiguration (a 4xx, a bad URL) and aborts end the wait; the rest may clear up.
          if (!(err instanceof EdgecertError) || (err.code !== "network" && err.code !== "bad_response")) throw err;
          // A transient failure must not hide what the resolver last answered: that is what the user acts on.
          const answered = answers.get(resolver);
          pending.set(resolver, answered === undefined ? err.message : `${answered}; then ${err.message}`);
        }
      }),
    );
    round++;
    if (pending.size === 0) return;
    const wait = backoffDelay(round - 1, baseDelay, maxDelay);
    // Like order polling: give up now rather than sleep past the deadline.
    if (Date.now() + wait >= deadline) break;
    logger.log("debug", "dns.propagation_pending", { name, pending: pending.size, nextInMs: Math.round(wait) });
    await sleep(wait, signal);
  }
  throwIfAborted(signal);
  const details = [...pending].map(([r, why]) => `${r}: ${why}`).join("; ");
  throw new EdgecertError("timeout", `TXT ${name} was not seen everywhere after ${round} round(s) in ${Date.now() - started} ms (${details})`);
}
