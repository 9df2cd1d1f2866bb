/**
 * dns-01 against pebble-challtestsrv, the mock DNS server that ships with Pebble.
 *
 * This lives in the library rather than in test support because it is useful beyond edgecert's own
 * tests: anyone testing their issuance code against Pebble needs exactly this, and it is small, uses
 * only `fetch`, and depends on nothing Node-specific, so it runs in Workers and Deno test setups too.
 * @module
 */
import { abortError } from "../acme/retry.ts";
import { dns01Solver } from "../acme/solvers/dns01-solver.ts";
import type { ChallengeContext, Solver } from "../acme/solver.ts";
import { EdgecertError } from "../errors.ts";
import { waitForTxt, type DohWaitOptions } from "./wait-for-txt.ts";

/** Options for {@link challtestsrvDns01Solver}. */
export interface ChalltestsrvDns01Options {
  /** Check propagation over DNS-over-HTTPS before the CA is told to validate (default: no wait). */
  propagation?: DohWaitOptions;
}

/**
 * A dns-01 solver that publishes TXT records through pebble-challtestsrv's management API
 * (`POST /set-txt {host, value}`, `POST /clear-txt {host}`; hosts are fully qualified, with a trailing dot).
 *
 * challtestsrv appends values on `set-txt` but `clear-txt` drops every value of a host, so removing one
 * value clears the host and puts back the values this solver still holds — a wildcard's sibling
 * challenge survives its twin's cleanup. Operations on one host run one at a time.
 */
export function challtestsrvDns01Solver(
  managementUrl: string,
  fetchFn: typeof fetch = (input, init) => fetch(input, init),
  options: ChalltestsrvDns01Options = {},
): Solver {
  const base = managementUrl.replace(/\/+$/, "");
  /** Values this solver set, per fully qualified host. */
  const held = new Map<string, string[]>();
  /** Per-host queue so a clear and its re-adds are not interleaved with another value's. */
  const queues = new Map<string, Promise<void>>();

  const post = async (path: string, body: Record<string, string>, signal: AbortSignal): Promise<void> => {
    let res: Response;
    try {
      res = await fetchFn(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal,
      });
    } catch (cause) {
      if (signal.aborted) throw abortError(signal);
      throw new EdgecertError("network", `challtestsrv ${path} failed: ${String(cause)}`, { cause });
    }
    const text = await res.text().catch(() => "");
    if (!res.ok) throw new EdgecertError("challenge_failed", `challtestsrv ${path} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  };

  const serially = <T>(host: string, task: () => Promise<T>): Promise<T> => {
    const run = (queues.get(host) ?? Promise.resolve()).then(task);
    const settled = run.then(
      () => {},
      () => {},
    );
    queues.set(host, settled);
    void settled.then(() => {
      if (queues.get(host) === settled) queues.delete(host);
    });
    return run;
  };

  return dns01Solver({
    setTxt: (name, value, ctx) => {
      const host = `${name}.`;
      return serially(host, async () => {
        await post("/set-txt", { host, value }, ctx.signal);
        held.set(host, [...(held.get(host) ?? []), value]);
      });
    },
    removeTxt: (name, value, ctx) => {
      const host = `${name}.`;
      return serially(host, async () => {
        const rest = (held.get(host) ?? []).filter((v) => v !== value);
        if (rest.length > 0) held.set(host, rest);
        else held.delete(host);
        await post("/clear-txt", { host }, ctx.signal);
        for (const v of rest) await post("/set-txt", { host, value: v }, ctx.signal);
      });
    },
    ...(options.propagation
      ? { waitTxt: (name: string, value: string, ctx: ChallengeContext) => waitForTxt(name, [value], { logger: ctx.logger, ...options.propagation, signal: ctx.signal }) }
      : {}),
  });
}
