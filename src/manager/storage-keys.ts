import { base64urlEncode } from "../webcrypto/base64url.ts";
import type { AcmeIdentifier } from "../acme/types.ts";

// Where the manager keeps things in a Storage. One place, so every reader and writer agrees.

/** A short, filesystem-safe id for a CA directory URL (host + path). */
export function issuerKey(directoryUrl: string): string {
  const u = new URL(directoryUrl);
  return `${u.host}${u.pathname}`.replace(/[^A-Za-z0-9.-]+/g, "_").replace(/_+$/, "");
}

/** Stable id of a certificate's name set, whatever the order of names: first sorted name (readable) + hash. */
export async function certificateId(identifiers: AcmeIdentifier[]): Promise<string> {
  const sorted = identifiers.map((i) => `${i.type}:${i.value}`).sort();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(sorted.join("\n")));
  const first = sorted[0]!.slice(sorted[0]!.indexOf(":") + 1).replace(/^\*\./, "_wildcard.").replace(/[^A-Za-z0-9.-]/g, "_");
  return `${first.slice(0, 64)}-${base64urlEncode(new Uint8Array(digest).subarray(0, 9))}`;
}

/** Every storage key and lock name the manager uses. */
export const keys = {
  account: (issuer: string, email: string | undefined) => `accounts/${issuer}/${(email ?? "default").replace(/[^A-Za-z0-9@.+-]/g, "_")}.json`,
  accountLock: (issuer: string) => `account/${issuer}`,
  certificate: (id: string) => `certificates/${id}.json`,
  certificatePrefix: "certificates/",
  certificateLock: (id: string) => `certificate/${id}`,
  order: (id: string) => `orders/${id}.json`,
  orderPrefix: "orders/",
  nameIndex: (name: string) => `names/${name.replace(/^\*\./, "_wildcard.")}`,
  httpToken: (token: string) => `challenges/http-01/${token}`,
  httpTokenPrefix: "challenges/http-01/",
  /** Exists once every certificate record has a due-index entry (see DueSchedule). */
  dueIndexReady: "due-index/ready.json",
} as const;
