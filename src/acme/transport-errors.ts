/**
 * Transport failures a newcomer can act on. A `fetch` that fails because the CA's certificate is not
 * trusted is not a network glitch: retrying cannot help, and the runtime's message ("fetch failed")
 * hides the reason two `cause`s deep. This module recognises it on Node, Bun and Deno and says how to
 * trust the CA.
 * @module
 */
import { EdgecertError } from "../errors.ts";

/**
 * OpenSSL / BoringSSL verification codes (Node's undici and Bun put them on `cause.code`) that mean
 * "this runtime does not trust that certificate" rather than "the network failed".
 */
const UNTRUSTED_CODES: ReadonlySet<string> = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH",
]);

/** Deno (rustls) reports the reason in the message only, e.g. `invalid peer certificate: UnknownIssuer`. */
const UNTRUSTED_MESSAGE = /invalid peer certificate: ?([A-Za-z]+)|certificate verify failed|self[- ]signed certificate|unable to verify the first certificate/i;

/** How deep to follow `cause` chains (runtimes nest two or three). */
const MAX_CAUSE_DEPTH = 6;

/** The TLS verification reason inside a failed fetch's error, if that is why it failed. */
export function untrustedTlsReason(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current !== null && typeof current === "object"; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && UNTRUSTED_CODES.has(code)) return code;
    if (typeof message === "string") {
      const m = UNTRUSTED_MESSAGE.exec(message);
      if (m) return m[1] ?? m[0];
    }
    if (cause === current) break;
    current = cause;
  }
  return undefined;
}

/**
 * `tls_untrusted` for a request to `url` that failed with `cause`, or undefined when `cause` is not a
 * certificate-trust failure. The message names the reason and the three ways to trust a CA.
 */
export function tlsUntrustedError(method: string, url: string, cause: unknown): EdgecertError | undefined {
  const reason = untrustedTlsReason(cause);
  if (reason === undefined) return undefined;
  const origin = safeOrigin(url);
  return new EdgecertError(
    "tls_untrusted",
    `${method} ${url} failed: the TLS certificate of ${origin} is not trusted (${reason}). ` +
      "If this CA uses a private or test root, trust it: pass a `fetch` option that trusts it " +
      "(e.g. an undici Agent with its CA), or start the runtime with NODE_EXTRA_CA_CERTS=/path/ca.pem " +
      "(Node, Bun) / DENO_CERT=/path/ca.pem (Deno). If it is a public CA, check the URL's host name " +
      "and the system clock. Not retried: retrying cannot fix a certificate.",
    { cause },
  );
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** workerd's whole message for an outgoing fetch that failed in TLS, DNS or connect: the reason is only in its console. */
const WORKERD_OPAQUE = /^internal error; reference = ([0-9a-z]+)$/i;

/**
 * What to check when the runtime hid why a `fetch` failed, or undefined when it did not. workerd
 * (Cloudflare Workers, `wrangler dev`) rejects with `Error: internal error; reference = <id>` and no
 * `cause` for an untrusted TLS certificate and for an unresolvable host alike; the reason ("TLS peer's
 * certificate is not trusted", "DNS lookup failed") goes to its console under that id only. So the
 * message names the id to look for and the usual causes, most likely first.
 */
export function opaqueFetchFailure(cause: unknown): string | undefined {
  const message = cause instanceof Error ? cause.message : undefined;
  const m = message ? WORKERD_OPAQUE.exec(message) : null;
  if (!m) return undefined;
  return (
    `the Workers runtime hid the reason (its console has it under reference ${m[1]}). ` +
    "Most often the CA's TLS certificate is not trusted: under `wrangler dev` with Pebble or a private CA, " +
    "start it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem (docs/worker.md, local development). " +
    "Otherwise check that the URL's host name resolves and the CA is reachable from the Worker"
  );
}

