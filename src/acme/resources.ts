import { EdgecertError } from "../errors.ts";
import type { AcmeAccount, AcmeAuthorization, AcmeDirectory, AcmeOrder } from "./types.ts";

// Shape checks for what the CA sends: enough to make later code safe, lenient about extra members.

function bad(what: string, url: string): EdgecertError {
  return new EdgecertError("bad_response", `${url} returned a malformed ${what}`);
}

const isString = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** Validates a directory object (RFC 8555 §7.1.1). */
export function asDirectory(json: Record<string, unknown>, url: string): AcmeDirectory {
  for (const key of ["newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"]) {
    if (!isString(json[key])) throw bad(`directory (no ${key})`, url);
  }
  return json as unknown as AcmeDirectory;
}

/** Validates an order object (RFC 8555 §7.1.3) and attaches its URL. */
export function asOrder(json: Record<string, unknown>, url: string): AcmeOrder {
  if (!isString(json.status) || !Array.isArray(json.authorizations) || !json.authorizations.every(isString) ||
    !isString(json.finalize) || !Array.isArray(json.identifiers)) {
    throw bad("order", url);
  }
  return { ...(json as unknown as AcmeOrder), url };
}

/** Validates an authorization object (RFC 8555 §7.1.4) and attaches its URL. */
export function asAuthorization(json: Record<string, unknown>, url: string): AcmeAuthorization {
  const id = json.identifier as { type?: unknown; value?: unknown } | undefined;
  if (!isString(json.status) || !id || !isString(id.type) || !isString(id.value) || !Array.isArray(json.challenges)) {
    throw bad("authorization", url);
  }
  // A challenge this client cannot read (e.g. a newer type with another shape) is left out rather than
  // failing the authorization: challenge selection only ever picks types it has a solver for.
  const challenges = (json.challenges as unknown[]).filter(
    (c): c is Record<string, unknown> =>
      typeof c === "object" && c !== null && isString((c as Record<string, unknown>).type) &&
      isString((c as Record<string, unknown>).url) && isString((c as Record<string, unknown>).status),
  );
  return { ...(json as unknown as AcmeAuthorization), challenges: challenges as unknown as AcmeAuthorization["challenges"], url };
}

/** Validates an account object (RFC 8555 §7.1.2) and attaches its URL. */
export function asAccount(json: Record<string, unknown>, url: string): AcmeAccount {
  if (!isString(json.status)) throw bad("account", url);
  return { ...(json as unknown as AcmeAccount), url };
}
