/**
 * The error for a directory URL that is not one: a wrong path (404), a web page, or JSON that is not
 * an ACME directory. Said plainly, with the URL, because this is the first request a new user makes.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { AcmeProblem } from "./problem.ts";

/** The resources every ACME directory has (RFC 8555 §7.1.1) and without which nothing can be done. */
export const REQUIRED_DIRECTORY_RESOURCES = ["newNonce", "newAccount", "newOrder"] as const;

/** `not_acme_directory` for `url`, saying what came back instead. */
export function notAcmeDirectory(url: string, what: string, cause?: unknown): EdgecertError {
  return new EdgecertError(
    "not_acme_directory",
    `${url} is not an ACME directory: ${what}. Use the CA's directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory ` +
      "or https://acme-staging-v02.api.letsencrypt.org/directory (Pebble: https://localhost:14000/dir)",
    cause === undefined ? undefined : { cause },
  );
}

/** The resources of RFC 8555 §7.1.1 that `json` lacks. */
export function missingDirectoryResources(json: Record<string, unknown>): string[] {
  return REQUIRED_DIRECTORY_RESOURCES.filter((k) => typeof json[k] !== "string" || json[k] === "");
}

/**
 * Turns a failed directory fetch into `not_acme_directory` when the answer shows the URL is wrong: a
 * 4xx other than 429, or a 2xx body that stayed unusable through the retries. Anything else (network,
 * TLS, 5xx, 429, abort) is returned unchanged.
 */
export function directoryFailure(url: string, err: unknown): unknown {
  if (err instanceof AcmeProblem) {
    const status = err.status ?? 0;
    if (status >= 400 && status < 500 && status !== 429) return notAcmeDirectory(url, `it answered HTTP ${status} (${err.detail || err.kind})`, err);
    return err;
  }
  if (err instanceof EdgecertError && err.code === "bad_response") return notAcmeDirectory(url, err.message, err);
  return err;
}
