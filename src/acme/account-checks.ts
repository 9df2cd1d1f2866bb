/**
 * What edgecert checks before it asks a CA for an account, so the usual mistakes are reported
 * locally, with what to do, instead of as the CA's problem after a round trip (or not at all).
 * @module
 */
import { EdgecertError } from "../errors.ts";
import type { CryptoKeyPair } from "../webcrypto/web-types.ts";
import type { AcmeDirectory } from "./types.ts";

/** Most contacts sent in one account request (CAs accept a handful; Let's Encrypt one). */
const MAX_CONTACTS = 8;

/**
 * A plain `local@domain` address: no spaces, commas, angle brackets or a second `@`. RFC 8555 §7.3
 * asks clients to send one address per `mailto:` URL and no header fields; the CA may be stricter.
 */
const ADDRESS = /^[^\s@,;<>()[\]"\\?]+@[^\s@,;<>()[\]"\\?]+\.[^\s@,;<>()[\]"\\?.]+$/;

/**
 * Throws `invalid_contact` unless every contact is a `mailto:` URL with exactly one address and no
 * `?hfields` (RFC 8555 §7.3: "one address each", servers MAY reject other schemes and MUST reject
 * hfields with `invalidContact` / `unsupportedContact`).
 */
export function checkContacts(contact: unknown): void {
  if (contact === undefined) return;
  if (!Array.isArray(contact)) throw new EdgecertError("invalid_contact", `contact must be an array of mailto: URLs, got ${JSON.stringify(contact)}`);
  if (contact.length > MAX_CONTACTS) throw new EdgecertError("invalid_contact", `at most ${MAX_CONTACTS} contacts, got ${contact.length}`);
  for (const c of contact) {
    if (typeof c !== "string" || !c.toLowerCase().startsWith("mailto:")) {
      throw new EdgecertError("invalid_contact", `contact ${JSON.stringify(c)} is not a mailto: URL; write it as "mailto:you@example.com" (RFC 8555 §7.3)`);
    }
    const address = c.slice("mailto:".length);
    if (address.includes("?")) {
      throw new EdgecertError("invalid_contact", `contact ${JSON.stringify(c)} has header fields (?…); CAs refuse them (RFC 8555 §7.3): use "mailto:" and one address`);
    }
    if (address.includes(",")) {
      throw new EdgecertError("invalid_contact", `contact ${JSON.stringify(c)} names several addresses; give one "mailto:" URL per address (RFC 8555 §7.3)`);
    }
    if (!ADDRESS.test(decodeMailto(address))) {
      throw new EdgecertError("invalid_contact", `contact ${JSON.stringify(c)} is not one email address (expected "mailto:you@example.com")`);
    }
  }
}

function decodeMailto(address: string): string {
  try {
    return decodeURIComponent(address);
  } catch {
    return address;
  }
}

/**
 * Throws `unsupported_key` for account keys CAs refuse. RFC 8555 §6.2 only requires servers to
 * implement ES256 (EdDSA is optional), and the common CAs — Let's Encrypt, Pebble, Google Trust
 * Services, ZeroSSL — answer an Ed25519-signed JWS with `badPublicKey` / `badSignatureAlgorithm`.
 * Certificate keys are not limited by this.
 */
export function checkAccountKey(key: CryptoKeyPair): void {
  checkAccountKeyAlgorithm(key.privateKey?.algorithm?.name);
}

/** {@link checkAccountKey} by algorithm name (`"EdDSA"` or WebCrypto's `"Ed25519"`), before a key exists. */
export function checkAccountKeyAlgorithm(name: string | undefined): void {
  if (name === "Ed25519" || name === "EdDSA") {
    throw new EdgecertError(
      "unsupported_key",
      "Ed25519 (EdDSA) account keys are refused by ACME CAs (Let's Encrypt and Pebble answer badPublicKey); " +
        "use an ES256 (default), ES384 or RS256 account key. Certificate keys may still be EdDSA where the CA issues for them",
    );
  }
}

/**
 * Checks a manager-style `email` (an address, turned into `mailto:<email>`): throws `invalid_contact`
 * for anything {@link checkContacts} refuses, and for a value that already starts with `mailto:`.
 */
export function checkEmail(email: string | undefined): void {
  if (email === undefined) return;
  if (typeof email === "string" && email.toLowerCase().startsWith("mailto:")) {
    throw new EdgecertError("invalid_contact", `email ${JSON.stringify(email)} should be the address alone, without "mailto:"`);
  }
  checkContacts([`mailto:${String(email)}`]);
}

/**
 * Throws `terms_not_agreed` when the CA publishes terms of service (RFC 8555 §7.1.1
 * `meta.termsOfService`) and the caller did not say `termsOfServiceAgreed: true`. edgecert never
 * agrees for its user (RFC 8555 §7.3: the client indicates agreement; the user has to have read them).
 */
export function checkTermsAgreed(directory: AcmeDirectory, agreed: boolean | undefined, directoryUrl: string): void {
  const terms = directory.meta?.termsOfService;
  if (agreed === true || typeof terms !== "string") return;
  throw new EdgecertError(
    "terms_not_agreed",
    `the CA at ${directoryUrl} requires agreeing to its terms of service (${terms}): read them, then pass termsOfServiceAgreed: true`,
  );
}
