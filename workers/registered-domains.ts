import type { CaLimits } from "../src/budget/ca-limits.ts";
import { registeredDomainBy } from "../src/budget/registered-domain.ts";
import { loadPublicSuffixRules } from "./public-suffix-source.ts";

/**
 * The registered domain of a name under the Public Suffix List and `limits`' own suffixes (what the CA
 * counts its per-domain limit by), or undefined when the list cannot be read.
 */
export async function registeredDomains(limits: CaLimits | undefined): Promise<((name: string) => string) | undefined> {
  try {
    const rules = await loadPublicSuffixRules();
    const extra = new Set((limits?.publicSuffixes ?? []).map((s) => s.toLowerCase()));
    return (name) => registeredDomainBy(rules, name, extra);
  } catch {
    return undefined;
  }
}
