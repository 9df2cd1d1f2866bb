import { EdgecertError } from "../errors.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "./storage.ts";
import { valueBytes } from "./value-bytes.ts";

/** A secret and the id written in front of every value it sealed. */
export interface EncryptionSecret {
  /** 1–255 bytes of UTF-8, stored in clear with each value to pick the key on read. */
  keyId: string;
  /** At least 16 characters; ideally 32 random bytes, e.g. base64 from a Worker secret. */
  secret: string;
}

/** Options for {@link EncryptedStorage}. */
export interface EncryptedStorageOptions {
  /**
   * Secret that seals new values (the key is derived from it with HKDF-SHA-256). Omit it, giving the
   * old secret in `previousSecrets`, to turn encryption off: values are then still opened, and written
   * back in clear.
   */
  secret?: string;
  /** Id of `secret`. Default `"1"`. */
  keyId?: string;
  /** Earlier secrets, still used to open values after a rotation (new writes use `secret`). */
  previousSecrets?: readonly EncryptionSecret[];
  /** HKDF salt; the same for every instance that must read the data. Default `"edgecert/encrypted-storage/v1"`. */
  salt?: string | Uint8Array;
  /**
   * Which keys are sealed: key prefixes, or a predicate. Default {@link sealedByDefault}: every key
   * except the public http-01 tokens under `challenges/` (so accounts, certificates, pending orders and
   * anything else holding a private key are sealed). Other values pass through unchanged.
   */
  encrypt?: readonly string[] | ((key: string) => boolean);
  /**
   * Migration mode, for turning encryption on over a store that already holds clear values: `true`
   * reads a value stored in clear under a sealed key as it is, and lets {@link EncryptedStorage.reseal}
   * seal it. Default `false`: a sealed key's value must be a sealed value that opens for that key, or
   * reading it is `EdgecertError("storage")` — so whoever can write the store but does not hold the
   * secret cannot plant a record (plain JSON, an emptied value, a sealed value with its header bytes
   * altered, a sealed value moved from another key are all refused).
   *
   * Temporary by design: while it is on, a clear value is unauthenticated data. Turn it on, reseal
   * every key (each reseal of a clear value answers `"sealed-plaintext"`), then turn it off. It cannot
   * be a flag kept in the store: whoever could plant a clear value could delete the flag. (When
   * encryption is being turned off — no `secret` — clear values are read whatever this says.)
   */
  readPlaintext?: boolean;
}

/** Key prefixes whose values must stay readable without the secret: public http-01 key authorizations. */
export const CLEAR_PREFIXES: readonly string[] = ["challenges/"];

/** The default `encrypt` predicate: seal every key except those under {@link CLEAR_PREFIXES}. */
export function sealedByDefault(key: string): boolean {
  return !CLEAR_PREFIXES.some((prefix) => key.startsWith(prefix));
}

/**
 * What {@link EncryptedStorage.reseal} found at a key, and did: `absent`; `clear` (a key that is not
 * sealed); `current` (already sealed with the current secret, untouched); `sealed-plaintext` /
 * `sealed-previous` (re-sealed with the current secret from clear text / from a previous secret);
 * `unsealed` (encryption is being turned off: written back in clear).
 */
export type ResealOutcome = "absent" | "clear" | "current" | "sealed-plaintext" | "sealed-previous" | "unsealed";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();

/**
 * Wraps any {@link Storage} so that chosen values are encrypted at rest with AES-256-GCM (WebCrypto).
 *
 * A sealed value is `[version 1][key id length][key id][96-bit random IV][ciphertext + 128-bit tag]`.
 * The key is derived per key id with HKDF-SHA-256 from the secret and salt. The storage key and the
 * header are authenticated data, so a sealed value copied to another key, or altered in any byte,
 * fails to open. Sealed means authenticated: under a sealed key, anything but a sealed value that opens
 * for that key (tampered, emptied, clear text, moved from another key, wrong secret, unknown key id)
 * makes `get` throw `EdgecertError("storage")`; it never returns unauthenticated bytes — except, in the
 * explicit migration mode `readPlaintext: true`, a value that does not start like a sealed one, which is
 * read as the clear text written before encryption was turned on.
 *
 * Lifecycle: turn encryption on over existing data with `readPlaintext: true` (clear values are read,
 * sealed on write, or all at once with {@link EncryptedStorage.reseal}), then without it; rotate by giving the new `secret` and the old one in
 * `previousSecrets`, then `reseal`; turn it off by omitting `secret` (old one in `previousSecrets`),
 * then `reseal` writes everything back in clear.
 *
 * Keys, `list`, `delete` and locks pass through, so key names are not hidden. Consistency is the
 * wrapped storage's, and so are versions and write conditions: `getEntry` returns the inner version,
 * and `put`/`delete` hand `when` to the inner storage unchanged.
 */
export class EncryptedStorage implements Storage {
  readonly #inner: Storage;
  /** Key id new values are sealed with; undefined when encryption is being turned off. */
  readonly #current: string | undefined;
  readonly #keys = new Map<string, Promise<CryptoKey>>();
  readonly #shouldEncrypt: (key: string) => boolean;
  readonly #readPlaintext: boolean;

  /**
   * Seals values of `inner` under `options.secret`.
   * @param inner The storage that holds the sealed values.
   * @param options The secret, which keys to seal, and older secrets.
   */
  constructor(inner: Storage, options: EncryptedStorageOptions) {
    this.#inner = inner;
    const salt = new Uint8Array(typeof options.salt === "string" ? encoder.encode(options.salt) : (options.salt ?? encoder.encode("edgecert/encrypted-storage/v1")));
    this.#current = options.secret === undefined ? undefined : (options.keyId ?? "1");
    const secrets = [...(this.#current !== undefined ? [{ keyId: this.#current, secret: options.secret! }] : []), ...(options.previousSecrets ?? [])];
    if (secrets.length === 0) throw new EdgecertError("invalid_input", "EncryptedStorage needs a secret (or, to turn encryption off, the previous secrets)");
    for (const { keyId, secret } of secrets) {
      checkSecret(keyId, secret);
      if (this.#keys.has(keyId)) throw new EdgecertError("invalid_input", `EncryptedStorage key id ${JSON.stringify(keyId)} is given twice`);
      this.#keys.set(keyId, deriveKey(secret, salt, keyId));
    }
    const encrypt = options.encrypt;
    this.#shouldEncrypt = typeof encrypt === "function" ? encrypt : encrypt ? (key) => encrypt.some((prefix) => key.startsWith(prefix)) : sealedByDefault;
    // Turning encryption off writes values back in clear: they must stay readable until it is done.
    this.#readPlaintext = options.readPlaintext === true || this.#current === undefined;
    // Derivation errors surface on first use; keep them from being reported as unhandled meanwhile.
    for (const key of this.#keys.values()) key.catch(() => undefined);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const stored = await this.#inner.get(key);
    if (stored === undefined || !this.#shouldEncrypt(key)) return stored;
    return await this.#open(key, stored);
  }

  async getEntry(key: string): Promise<StorageEntry | undefined> {
    const stored = await this.#inner.getEntry(key);
    if (stored === undefined || !this.#shouldEncrypt(key)) return stored;
    return { value: await this.#open(key, stored.value), version: stored.version };
  }

  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    if (!this.#shouldEncrypt(key)) return await this.#inner.put(key, value, when);
    await this.#inner.put(key, await this.#seal(key, valueBytes(value)), when);
  }

  async delete(key: string, when?: WriteConditions): Promise<void> {
    await this.#inner.delete(key, when);
  }

  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    return await this.#inner.list(prefix, options);
  }

  async lock(name: string, options?: LockOptions): Promise<Lease> {
    return await this.#inner.lock(name, options);
  }

  /**
   * Brings the value at `key` to the current setting: seals a clear or previous-secret value with the
   * current secret (or writes it back in clear when encryption is being turned off), leaves a current
   * one alone. Reads the record's version and writes only if it is still that one: a writer that got
   * in between makes it throw `EdgecertError("conflict")` (re-run it), never lose that write.
   * Throws `EdgecertError("storage")` for a value no given secret opens, and for a clear value unless
   * in migration mode (`readPlaintext: true`).
   */
  async reseal(key: string): Promise<ResealOutcome> {
    // The authoritative copy and its version (getEntry: KvStorage reads its Durable Object, not the KV
    // edge), written back only if nobody wrote it since: a reseal never puts back an older value.
    const entry = await this.#inner.getEntry(key);
    if (entry === undefined) return "absent";
    const stored = entry.value;
    const when = { ifVersion: entry.version };
    if (!this.#shouldEncrypt(key)) return "clear";
    const sealedWith = isSealed(stored) ? this.#keyIdOf(key, stored) : undefined;
    if (this.#current === undefined) {
      if (sealedWith === undefined) return "clear";
      await this.#putBack(key, await this.#open(key, stored), when);
      return "unsealed";
    }
    // Outside migration mode a clear value under a sealed key is a planted one: never seal it into a record.
    if (sealedWith === undefined && !this.#readPlaintext) await this.#open(key, stored);
    if (sealedWith === this.#current) {
      // Opened to be sure it really is the current secret's (and not a value with a reused id).
      await this.#open(key, stored);
      return "current";
    }
    const plaintext = sealedWith === undefined ? stored : await this.#open(key, stored);
    await this.#putBack(key, await this.#seal(key, new Uint8Array(plaintext)), when);
    return sealedWith === undefined ? "sealed-plaintext" : "sealed-previous";
  }

  /**
   * Writes a resealed value only at the version it was read at. A backend that cannot write
   * conditionally at all (KvStorage without its Durable Object) refuses with `storage`: there the
   * write is made as before, unconditionally.
   */
  async #putBack(key: string, value: Uint8Array, when: WriteConditions): Promise<void> {
    try {
      await this.#inner.put(key, value, when);
    } catch (err) {
      if (!(err instanceof EdgecertError && err.code === "storage" && /cannot write conditionally/.test(err.message))) throw err;
      await this.#inner.put(key, value);
    }
  }

  #keyIdOf(key: string, stored: Uint8Array): string {
    const idLength = stored[1]!;
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(stored.subarray(2, 2 + idLength));
    } catch (cause) {
      throw new EdgecertError("storage", `encrypted value ${JSON.stringify(key)} cannot be opened: malformed key id`, { cause });
    }
  }

  /** The bytes to store for `plaintext`: sealed with the current secret, or as they are when encryption is turned off. */
  async #seal(key: string, plaintext: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    if (this.#current === undefined) return plaintext;
    const header = headerFor(this.#current);
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const cryptoKey = await this.#keys.get(this.#current)!;
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(header, key), tagLength: TAG_BYTES * 8 }, cryptoKey, plaintext));
    const out = new Uint8Array(header.length + IV_BYTES + sealed.length);
    out.set(header);
    out.set(iv, header.length);
    out.set(sealed, header.length + IV_BYTES);
    return out;
  }

  async #open(key: string, stored: Uint8Array): Promise<Uint8Array> {
    const fail = (why: string, cause?: unknown) => new EdgecertError("storage", `encrypted value ${JSON.stringify(key)} cannot be opened: ${why}`, cause === undefined ? undefined : { cause });
    if (!isSealed(stored)) {
      if (this.#readPlaintext) return stored;
      throw fail(
        stored.length === 0
          ? "empty (not a sealed value)"
          : "not a sealed value (stored in clear, or its header was altered); clear values written before encryption was on are read only in migration mode (readPlaintext: true, then reseal)",
      );
    }
    const idLength = stored[1]!;
    const bodyStart = 2 + idLength + IV_BYTES;
    if (idLength === 0 || stored.length < bodyStart + TAG_BYTES) throw fail("truncated");
    let keyId: string;
    try {
      keyId = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(stored.subarray(2, 2 + idLength));
    } catch (cause) {
      throw fail("malformed key id", cause);
    }
    const cryptoKey = this.#keys.get(keyId);
    if (!cryptoKey) throw fail(`sealed with key id ${JSON.stringify(keyId)}, which this storage was not given`);
    const header = stored.slice(0, 2 + idLength);
    const iv = stored.slice(2 + idLength, bodyStart);
    try {
      return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad(header, key), tagLength: TAG_BYTES * 8 }, await cryptoKey, stored.slice(bodyStart)));
    } catch (cause) {
      throw fail("authentication failed (altered, moved from another key, or a different secret)", cause);
    }
  }
}

function checkSecret(keyId: string, secret: string): void {
  const idLength = typeof keyId === "string" ? encoder.encode(keyId).length : 0;
  if (idLength < 1 || idLength > 255) throw new EdgecertError("invalid_input", "EncryptedStorage keyId must be 1–255 bytes of UTF-8");
  if (typeof secret !== "string" || secret.length < 16) throw new EdgecertError("invalid_input", `EncryptedStorage secret for key id ${JSON.stringify(keyId)} must be at least 16 characters`);
}

/** Whether `stored` starts like a sealed value: the format version, then a non-empty key id. */
export function isSealed(stored: Uint8Array): boolean {
  return stored.length >= 2 && stored[0] === VERSION && stored[1]! > 0;
}

function headerFor(keyId: string): Uint8Array<ArrayBuffer> {
  const id = encoder.encode(keyId);
  const header = new Uint8Array(2 + id.length);
  header[0] = VERSION;
  header[1] = id.length;
  header.set(id, 2);
  return header;
}

/** Authenticated data: the header, then the storage key the value belongs to. */
function aad(header: Uint8Array, key: string): Uint8Array<ArrayBuffer> {
  const k = encoder.encode(key);
  const out = new Uint8Array(header.length + k.length);
  out.set(header);
  out.set(k, header.length);
  return out;
}

async function deriveKey(secret: string, salt: Uint8Array<ArrayBuffer>, keyId: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"]);
  return await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: encoder.encode(`edgecert storage AES-256-GCM key ${keyId}`) },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}
