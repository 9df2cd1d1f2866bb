/**
 * The Worker's Public Suffix List, read from its static assets (workers/assets/public-suffixes.txt,
 * the same packed text as src/budget/public-suffix-data.ts, written with it by
 * scripts/update-public-suffixes.ts). wrangler.toml's `[alias]` puts this module in place of
 * src/budget/public-suffix-source.ts, so the list's 26 KB gzip are not in the Worker's script, are not
 * parsed on every cold start, and are read once per isolate, only when the CA budget needs a registered
 * domain. Assets are deployed with the Worker and served by workerd itself: no network, also under
 * `wrangler dev` and in the tests.
 * @module
 */
import { env } from "cloudflare:workers";
import { unpackPublicSuffixes, type SuffixRules } from "../src/budget/registered-domain.ts";
import { ConfigError } from "./config.ts";

/** The asset's path; the host is never looked up (an assets binding answers any). */
export const PUBLIC_SUFFIXES_ASSET = "https://assets.invalid/public-suffixes.txt";

let loading: Promise<SuffixRules> | undefined;

/** The list's rules (loaded once per isolate; a failed read is tried again by the next caller). */
export function loadPublicSuffixRules(): Promise<SuffixRules> {
  loading ??= read().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

async function read(): Promise<SuffixRules> {
  const assets = (env as { ASSETS?: Fetcher }).ASSETS;
  if (!assets) throw new ConfigError("ASSETS", "the binding is missing; the Public Suffix List is one of the Worker's static assets: keep wrangler.toml's [assets] section");
  const res = await assets.fetch(PUBLIC_SUFFIXES_ASSET);
  if (!res.ok) throw new ConfigError("ASSETS", `the Public Suffix List asset answered ${res.status}: deploy workers/assets/ with the Worker (wrangler.toml [assets])`);
  // The first line is the list's licence notice.
  return unpackPublicSuffixes((await res.text()).replace(/^\/\/.*\n/, ""));
}
