import { EdgecertError } from "../errors.ts";
import { base64urlEncode } from "./base64url.ts";
import { exportJwk, keyAlgorithmOf } from "./keys.ts";
import type { CryptoKey } from "./web-types.ts";

/** A public JWK holding only the members RFC 7638 §3.2 requires, so it is also the thumbprint input. */
export type PublicJwk =
  | { crv: "P-256" | "P-384"; kty: "EC"; x: string; y: string }
  | { e: string; kty: "RSA"; n: string }
  | { crv: "Ed25519"; kty: "OKP"; x: string };

/** Exports a public (or private) key's public part as a minimal JWK (RFC 7517, RFC 7638 §3.2). */
export async function exportPublicJwk(key: CryptoKey): Promise<PublicJwk> {
  keyAlgorithmOf(key);
  const jwk = await exportJwk(key);
  // Exported JWKs carry ext/key_ops/alg; a thumbprint must use only the required members.
  switch (jwk.kty) {
    case "EC":
      return { crv: jwk.crv as "P-256" | "P-384", kty: "EC", x: jwk.x!, y: jwk.y! };
    case "RSA":
      return { e: jwk.e!, kty: "RSA", n: jwk.n! };
    case "OKP":
      return { crv: "Ed25519", kty: "OKP", x: jwk.x! };
    default:
      throw new EdgecertError("unsupported_key", `unsupported JWK key type ${String(jwk.kty)}`);
  }
}

/** The canonical JSON of a JWK's required members, lexicographically ordered (RFC 7638 §3.3). */
function canonicalJwk(jwk: PublicJwk): string {
  switch (jwk.kty) {
    case "EC":
      return `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
    case "RSA":
      return `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`;
    case "OKP":
      return `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`;
  }
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a key or of a public JWK. */
export async function jwkThumbprint(key: CryptoKey | PublicJwk): Promise<string> {
  const jwk = "kty" in key ? key : await exportPublicJwk(key);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJwk(jwk)));
  return base64urlEncode(digest);
}
