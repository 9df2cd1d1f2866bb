/**
 * The WebCrypto types our public signatures use, written so that our `.d.ts` files compile in every
 * consumer setup: DOM, `@cloudflare/workers-types`, Deno, and `lib: ["ES2022"]` with `@types/node` 20
 * or 24 (which has no global `CryptoKey` type at all, or only a `CryptoKey` value).
 *
 * Modules import these under the global names (`import type { CryptoKey } from "./web-types.ts"`), so the
 * code reads as plain WebCrypto while the declarations no longer depend on one environment's globals.
 * @module
 */

/**
 * What a WebCrypto key has in every runtime. It stands for the key type where the environment's
 * `crypto` is not visible on `globalThis` (`@cloudflare/workers-types` declares it with `const`); it is
 * assignable both ways to the Workers `CryptoKey` class.
 */
export interface StructuralCryptoKey {
  /** The algorithm the key belongs to, e.g. `{ name: "ECDSA", namedCurve: "P-256" }`. */
  readonly algorithm: { readonly name: string };
  /** Whether the key material can be exported. */
  readonly extractable: boolean;
  /** `"public"`, `"private"` or `"secret"`. */
  readonly type: string;
  /** The operations the key may be used for. */
  readonly usages: string[];
}

/**
 * The `CryptoKey` of the environment that compiles this declaration: the key type its
 * `crypto.subtle.sign()` takes. Resolved in the consumer's program, so a key from the consumer's own
 * `crypto.subtle` is accepted as it is and a key we return can be passed back to `crypto.subtle`.
 */
export type CryptoKey = typeof globalThis extends {
  crypto: { subtle: { sign(algorithm: never, key: infer K, data: never): unknown } };
}
  ? K
  : StructuralCryptoKey;

/** A WebCrypto key pair of the environment's {@link CryptoKey}s, as `crypto.subtle.generateKey` returns. */
export interface CryptoKeyPair {
  /** The private key: signs. */
  privateKey: CryptoKey;
  /** The public key: verifies; its JWK goes into the JWS header of an account request. */
  publicKey: CryptoKey;
}

/** A JSON Web Key (RFC 7517) as `crypto.subtle.exportKey("jwk", key)` returns it. */
export interface JsonWebKey {
  /** Key type: `"EC"`, `"RSA"` or `"OKP"` (RFC 7518 §6.1, RFC 8037). */
  kty: string;
  /** Curve of an EC or OKP key. */
  crv?: string;
  /** EC/OKP public coordinate. */
  x?: string;
  /** EC public coordinate. */
  y?: string;
  /** RSA modulus. */
  n?: string;
  /** RSA public exponent. */
  e?: string;
  /** Private key material (EC, OKP and RSA). */
  d?: string;
  /** RSA first prime factor. */
  p?: string;
  /** RSA second prime factor. */
  q?: string;
  /** RSA first factor CRT exponent. */
  dp?: string;
  /** RSA second factor CRT exponent. */
  dq?: string;
  /** RSA first CRT coefficient. */
  qi?: string;
  /** Symmetric key value. */
  k?: string;
  /** Intended algorithm. */
  alg?: string;
  /** WebCrypto's "extractable" flag. */
  ext?: boolean;
  /** Permitted operations. */
  key_ops?: string[];
  /** Intended use: `"sig"` or `"enc"`. */
  use?: string;
}

/**
 * A `Uint8Array` over a plain `ArrayBuffer`, which is what WebCrypto takes: `Uint8Array<ArrayBuffer>` on
 * TypeScript ≥ 5.7, plain `Uint8Array` before (where `Uint8Array` is not generic).
 */
export type Bytes = ReturnType<Uint8Array["slice"]>;
