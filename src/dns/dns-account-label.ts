/**
 * Record names for the dns-account-01 challenge (draft-ietf-acme-dns-account-label), where each ACME
 * account validates at its own label so several accounts can solve for one name at the same time.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { dns01RecordName } from "../acme/challenge-helpers.ts";

/** RFC 4648 §6 base32 alphabet, lower-cased as in the draft's example (DNS names ignore case anyway). */
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * The TXT record name for a dns-account-01 challenge:
 * `"_" || base32(SHA-256(accountUrl)[0:10]) || "._acme-challenge." || name`
 * (draft-ietf-acme-dns-account-label §3.1; 10 bytes give exactly 16 base32 characters, no padding).
 * `accountUrl` is the account's URL from the `Location` header (RFC 8555 §7.3); a wildcard validates
 * at its base name, as in dns-01. The TXT value is the same as dns-01's (`dns01TxtValue`).
 */
export async function dnsAccount01RecordName(accountUrl: string, name: string): Promise<string> {
  if (typeof accountUrl !== "string" || accountUrl === "") {
    throw new EdgecertError("invalid_input", "dns-account-01 needs the account URL");
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accountUrl)));
  let label = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of digest.subarray(0, 10)) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      label += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  return `_${label}.${dns01RecordName(name)}`;
}
