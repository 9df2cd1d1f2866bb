/**
 * Where the CA budget's Public Suffix List comes from: the copy built into this package. The Worker's
 * build swaps this module for workers/public-suffix-source.ts (wrangler.toml `[alias]`), which reads the
 * same packed list from the Worker's static assets, so that its 26 KB gzip stay out of the Worker's
 * script (issue 24). Both export the same function; only src/budget/fleet-budget.ts imports it.
 * @module
 */
import { builtInPublicSuffixes, type SuffixRules } from "./registered-domain.ts";

/** The list's rules (loaded once). */
export async function loadPublicSuffixRules(): Promise<SuffixRules> {
  return builtInPublicSuffixes();
}
