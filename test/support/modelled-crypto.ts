/**
 * Modelled WebCrypto for simulations too large to sign for real (the 100,000-name onboarding bench):
 * while installed, in this process,
 * - ECDSA `sign` returns a constant signature of the right length (the bytes are not a signature),
 *   and ECDSA `verify` says yes (so the stand-in CA accepts every JWS it gets, as it would the real ones);
 *   both answer in a later turn of the event loop, as WebCrypto's thread pool does;
 * - ECDSA `generateKey` hands out real key pairs from a pool made once (`poolSize`, round robin), so
 *   certificates of different names may share a key;
 * - `exportKey` of a key is computed once per key and format, then copied from memory.
 * Everything else — digests, key import, the encoding and parsing of JWS, CSRs and certificates,
 * the ACME exchange, storage, and the manager's budget and queue — runs as it does for real: what
 * is sent to the CA and when is decided by the library's own code. Measured before it was needed: real
 * signing, key generation and key export were about 40 % of an issuance's CPU here.
 * @module
 */

type Subtle = Record<string, (...args: unknown[]) => Promise<unknown>>;

/**
 * Real WebCrypto answers from another thread, so the event loop turns between a request and its
 * answer (timers run: lease heartbeats). A modelled answer does too; without it, thousands of
 * issuances in flight became one unbroken chain of microtasks and starved the heartbeats.
 */
const offThread = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Installs the model on `globalThis.crypto.subtle`; returns its removal. */
export async function installModelledCrypto({ poolSize = 64 } = {}): Promise<() => void> {
  const subtle = globalThis.crypto.subtle as unknown as Subtle;
  const original = { sign: subtle.sign!, verify: subtle.verify!, generateKey: subtle.generateKey!, exportKey: subtle.exportKey! };
  // Own properties (another wrapper's) are put back as they were; prototype methods by removing ours.
  const own = Object.fromEntries(Object.keys(original).map((k) => [k, Object.prototype.hasOwnProperty.call(subtle, k)]));
  // One pool per curve, made once: concurrent first callers wait for the same one.
  const pools = new Map<string, Promise<CryptoKeyPair[]>>();
  let next = 0;
  const exported = new WeakMap<object, Map<string, unknown>>();
  const isEcdsa = (algorithm: unknown) => typeof algorithm === "object" && algorithm !== null && (algorithm as { name?: string }).name === "ECDSA";
  const curveOf = (key: unknown) => ((key as CryptoKey).algorithm as EcKeyAlgorithm).namedCurve;
  const signatureLength: Record<string, number> = { "P-256": 64, "P-384": 96, "P-521": 132 };

  subtle.generateKey = async (algorithm: unknown, extractable: unknown, usages: unknown) => {
    if (!isEcdsa(algorithm) || !extractable) return original.generateKey.call(globalThis.crypto.subtle, algorithm, extractable, usages);
    const curve = (algorithm as EcKeyGenParams).namedCurve;
    let pool = pools.get(curve);
    if (!pool) {
      pool = (async () => {
        const keys: CryptoKeyPair[] = [];
        for (let i = 0; i < poolSize; i++) keys.push((await original.generateKey.call(globalThis.crypto.subtle, algorithm, true, ["sign", "verify"])) as CryptoKeyPair);
        return keys;
      })();
      pools.set(curve, pool);
    }
    const keys = await pool;
    await offThread();
    return keys[next++ % keys.length];
  };
  subtle.exportKey = async (format: unknown, key: unknown) => {
    let byFormat = exported.get(key as object);
    if (!byFormat) exported.set(key as object, (byFormat = new Map()));
    if (!byFormat.has(format as string)) byFormat.set(format as string, await original.exportKey.call(globalThis.crypto.subtle, format, key));
    const value = byFormat.get(format as string);
    await offThread();
    // A fresh copy, as WebCrypto returns (callers may own the buffer).
    return value instanceof ArrayBuffer ? value.slice(0) : structuredClone(value);
  };
  subtle.sign = async (algorithm: unknown, key: unknown, data: unknown) => {
    if (!isEcdsa(algorithm)) return original.sign.call(globalThis.crypto.subtle, algorithm, key, data);
    await offThread();
    return new Uint8Array(signatureLength[curveOf(key)] ?? 64).fill(0x5a).buffer;
  };
  subtle.verify = async (algorithm: unknown, key: unknown, signature: unknown, data: unknown) => {
    if (!isEcdsa(algorithm)) return original.verify.call(globalThis.crypto.subtle, algorithm, key, signature, data);
    await offThread();
    return true;
  };
  return () => {
    for (const [k, fn] of Object.entries(original)) {
      if (own[k]) subtle[k] = fn;
      else delete subtle[k];
    }
  };
}
