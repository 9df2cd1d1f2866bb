import { DNS_PERSIST_01 } from "../dns-persist/rules.ts";
import type { AcmeAuthorization, AcmeChallenge, AcmeIdentifier } from "../types.ts";

/** Types whose key authorization is built from the challenge's `token` (RFC 8555 §8.1, RFC 8737 §3). */
const TOKEN_TYPES = new Set(["http-01", "dns-01", "tls-alpn-01"]);

/** Whether a challenge carries what its type needs to be solved. */
function solvable(c: AcmeChallenge): boolean {
  return !TOKEN_TYPES.has(c.type) || (typeof c.token === "string" && c.token.length > 0);
}

/**
 * Challenge types usable for an identifier given the solvers we have. Wildcards can only be validated
 * through DNS (RFC 8555 §7.1.3, §8.4); IP identifiers never through DNS (RFC 8738 §7).
 */
export function allowedChallengeTypes(id: AcmeIdentifier, solverTypes: readonly string[]): string[] {
  // dns-persist-01 validates DNS names, wildcards with policy=wildcard (draft-ietf-acme-dns-persist §5, §8.1).
  if (id.value.startsWith("*.")) return solverTypes.filter((t) => t === "dns-01" || t === DNS_PERSIST_01);
  if (id.type === "ip") return solverTypes.filter((t) => t !== "dns-01" && t !== DNS_PERSIST_01);
  return [...solverTypes];
}

/** What {@link selectChallenge} decides from. */
export interface ChallengeSelectionInput {
  authorization: AcmeAuthorization;
  /** The identifier as ordered (`*.name` for a wildcard authorization). */
  ordered: AcmeIdentifier;
  /** Challenge types that have a solver. */
  solverTypes: readonly string[];
  /** Types in order of preference; unlisted types rank after them, in random order. */
  preferred: readonly string[];
  /** Types that already failed for this identifier in this issuance. */
  avoided?: ReadonlySet<string> | undefined;
  random?: () => number;
}

/**
 * The challenge to solve for one authorization, or undefined when none is usable. Only types we
 * have a solver for are considered, so challenge types edgecert does not know (offered by newer CAs)
 * are ignored; a token-based challenge without its `token` (RFC 8555 §8.1) is never chosen. Ties are broken at random, which spreads load and avoids getting stuck on one broken type.
 */
export function selectChallenge(input: ChallengeSelectionInput): AcmeChallenge | undefined {
  const { authorization, ordered, preferred, avoided } = input;
  const random = input.random ?? Math.random;
  const usable = allowedChallengeTypes(ordered, input.solverTypes).filter((t) => !avoided?.has(t));
  const rank = (t: string) => {
    const i = preferred.indexOf(t);
    return i === -1 ? preferred.length : i;
  };
  const candidates = authorization.challenges
    .filter((c) => usable.includes(c.type) && solvable(c))
    .map((c) => ({ c, r: rank(c.type), x: random() }))
    .sort((a, b) => a.r - b.r || a.x - b.x);
  return candidates[0]?.c;
}
