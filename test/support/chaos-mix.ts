/**
 * The fault mix of issue 23's chaos run, as one {@link FaultRule} for the fault proxy: 10 % 500/503,
 * 5 % TCP resets, 5 % truncated bodies, 3 % 429, 2 % stalls — half of the 5xx and resets after the CA
 * acted (the proxy forwards first), so a request that is not safe to repeat really may have taken
 * effect.
 *
 * Draws are keyed, not sequential: a request's fault depends on the seed, the round (one issuance),
 * the kind of request (directory, nonce, order, authorization, ...) and how many of that kind the
 * round sent before it. So a replay with the same seed puts the same faults at the same steps, even if
 * an earlier request of another kind was repeated a different number of times — except order polls,
 * whose number follows Pebble's validation race (PLATFORM.md) and can shift the polls' own draws.
 * @module
 */
import type { Fault, FaultRule } from "./fault-proxy.ts";
import { seededRandom } from "./seeded-random.ts";

/** Share of requests getting each fault (the mix). */
export const CHAOS_MIX = { serverError: 0.1, reset: 0.05, truncate: 0.05, rateLimited: 0.03, stall: 0.02 } as const;

/** A running mix: the proxy rule, the round to key draws by, and what it injected. */
export interface ChaosMix {
  readonly rule: FaultRule;
  /** Starts keying draws by round `n` (one issuance). */
  round(n: number): void;
  /** Faults injected so far, by name. */
  readonly injected: Map<string, number>;
}

/** The kind of ACME request a path is (Pebble 2.4's paths). */
function kindOf(method: string, path: string, hasPayload: boolean): string {
  const first = path.split("/")[1] ?? "";
  return `${method} ${first}${method === "POST" && hasPayload ? " +payload" : ""}`;
}

/** FNV-1a of a string, for keying draws. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The mix for `seed`. A stall is forwarded and never answered (the proxy holds it until the client gives
 * up), so it always runs into the client's request timeout however late a loaded machine's timer fires.
 */
export function chaosMix(seed: number): ChaosMix {
  let round = 0;
  const seen = new Map<string, number>();
  const injected = new Map<string, number>();
  const count = (name: string) => injected.set(name, (injected.get(name) ?? 0) + 1);
  const pick = ({ method, path, hasPayload }: { method: string; path: string; hasPayload: boolean }): Fault | undefined => {
    const kind = kindOf(method, path, hasPayload);
    const ordinal = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, ordinal);
    const random = seededRandom(hash(`${seed}/${round}/${kind}/${ordinal}`));
    const draw = random();
    const after = random() < 0.5;
    let edge = CHAOS_MIX.serverError;
    if (draw < edge) {
      const status = random() < 0.5 ? 500 : 503;
      count(`${status}${after ? " after the CA acted" : ""}`);
      return { kind: "status", status, afterUpstream: after };
    }
    if (draw < (edge += CHAOS_MIX.reset)) {
      count(`reset${after ? " after the CA acted" : ""}`);
      return { kind: "reset", afterUpstream: after };
    }
    if (draw < (edge += CHAOS_MIX.truncate)) {
      count("truncated body");
      return { kind: "truncate" };
    }
    if (draw < (edge += CHAOS_MIX.rateLimited)) {
      count("429");
      return { kind: "status", status: 429 };
    }
    if (draw < (edge += CHAOS_MIX.stall)) {
      count("stall");
      return { kind: "stall" };
    }
    return undefined;
  };
  return {
    rule: { pick, times: Infinity },
    round(n) {
      round = n;
      seen.clear();
    },
    injected,
  };
}
