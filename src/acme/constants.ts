/** Let's Encrypt production directory. */
export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
/** Let's Encrypt staging directory (untrusted certificates, generous rate limits). */
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
/**
 * The CA edgecert uses when none is chosen — the CLI's `--server`, the samples in `examples/` and the
 * Worker's `ACME_DIRECTORY_URL` in `wrangler.toml` all default to this one: Let's Encrypt production.
 * Production rather than staging because a default has to produce certificates that work: a staging
 * certificate is trusted by no browser, and a deploy hook that reloads a live server with one takes
 * the site's HTTPS down. The cost of production while experimenting is its rate limits, which a
 * refusal says plainly (with `rateLimited`'s Retry-After honoured and the hint to use staging) and the
 * manager's backoff keeps from being hammered; choose `LETS_ENCRYPT_STAGING` (`--server
 * letsencrypt-staging`) while trying things out.
 */
export const DEFAULT_DIRECTORY_URL: string = LETS_ENCRYPT_PRODUCTION;
