import type { KeyAlgorithmName } from "../webcrypto/keys.ts";
import { CliError } from "./exit-codes.ts";

/** `--key-type` spellings (lego's, certbot's and JOSE's) → the library's algorithm names. */
const KEY_TYPES: Readonly<Record<string, KeyAlgorithmName>> = {
  ec256: "ES256",
  ecdsa: "ES256",
  "p-256": "ES256",
  es256: "ES256",
  ec384: "ES384",
  "p-384": "ES384",
  es384: "ES384",
  rsa2048: "RS256",
  rsa: "RS256",
  rs256: "RS256",
};

/** The certificate key algorithm for `--key-type` (default ES256). */
export function parseKeyType(value: string | undefined): KeyAlgorithmName {
  if (value === undefined) return "ES256";
  const type = KEY_TYPES[value.toLowerCase()];
  if (!type) throw new CliError(`--key-type ${JSON.stringify(value)} is not one of ec256, ec384, rsa2048`);
  return type;
}
