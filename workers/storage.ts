import { SENSITIVE_PREFIXES } from "../src/manager/index.ts";
import { DurableObjectStorage } from "../src/storage/durable-object-storage.ts";
import { EdgecertError } from "../src/errors.ts";
import { EncryptedStorage, isSealed } from "../src/storage/encrypted-storage.ts";
import { KvStorage } from "../src/storage/kv-storage.ts";
import { R2Storage } from "../src/storage/r2-storage.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../src/storage/storage.ts";
import type { EncryptionConfig } from "./config.ts";
import type { Env } from "./env.ts";

/** Key prefixes read often and written rarely: fine in KV / R2. Everything else needs strong consistency. */
const BULK_PREFIXES = ["certificates/", "names/"];

/**
 * The Worker's storage: certificates in R2 or KV when bound, and whatever must be seen everywhere at
 * once — challenge tokens (the CA validates from several places), accounts, pending orders, locks — in
 * the Durable Object. Every ACME operation for one certificate runs in that certificate's renewer
 * object, so its reads of KV are its own writes.
 */
class WorkerStorage implements Storage {
  constructor(
    private readonly strong: Storage,
    private readonly bulk: Storage,
    /** Set when no encryption is configured: a sealed key-bearing record is then a key mismatch, not clear text. */
    private readonly refuseSealed = false,
  ) {}

  private route(key: string): Storage {
    return BULK_PREFIXES.some((p) => key.startsWith(p)) ? this.bulk : this.strong;
  }

  #checked<T extends Uint8Array | undefined>(key: string, value: T): T {
    if (this.refuseSealed && value !== undefined && isSealed(value) && SENSITIVE_PREFIXES.some((p) => key.startsWith(p))) {
      throw new EdgecertError("storage", `encrypted value ${JSON.stringify(key)} cannot be opened: it is sealed and no STORAGE_ENCRYPTION_KEY is set`);
    }
    return value;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#checked(key, await this.route(key).get(key));
  }
  async getEntry(key: string): Promise<StorageEntry | undefined> {
    const entry = await this.route(key).getEntry(key);
    this.#checked(key, entry?.value);
    return entry;
  }
  put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    return this.route(key).put(key, value, when);
  }
  delete(key: string, when?: WriteConditions): Promise<void> {
    return this.route(key).delete(key, when);
  }
  list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    return this.route(prefix).list(prefix, options);
  }
  lock(name: string, options?: LockOptions): Promise<Lease> {
    return this.strong.lock(name, options);
  }
}

/** The routed storage as stored, without encryption: http-01 tokens (never sealed), and what reseal walks. */
export function routedStorage(env: Env, options: { refuseSealed?: boolean } = {}): Storage {
  const strong = new DurableObjectStorage(env.EDGECERT_STORE);
  const bulk = env.CERT_BUCKET ? new R2Storage(env.CERT_BUCKET, { locks: strong }) : env.CERTS ? new KvStorage(env.CERTS, { locks: env.EDGECERT_STORE }) : strong;
  return new WorkerStorage(strong, bulk, options.refuseSealed);
}

/**
 * Builds the storage for one invocation. With encryption on, every record holding a private key
 * (accounts, certificates, pending orders) is sealed with AES-GCM, so a leaked KV / R2 / Durable
 * Object dump does not leak keys, and a record that is not sealed under the key is refused, not read;
 * records written in clear before are read (and sealed on their next write) only in migration mode.
 */
export function workerStorage(env: Env, encryption: EncryptionConfig | undefined): Storage {
  return encryption ? encryptedStorage(routedStorage(env), encryption) : routedStorage(env, { refuseSealed: true });
}

/** `inner` sealed as `encryption` says, for the key-bearing prefixes (names/ and challenges/ hold no secret). */
export function encryptedStorage(inner: Storage, encryption: EncryptionConfig): EncryptedStorage {
  return new EncryptedStorage(inner, {
    ...(encryption.secret !== undefined ? { secret: encryption.secret } : {}),
    ...(encryption.keyId !== undefined ? { keyId: encryption.keyId } : {}),
    previousSecrets: encryption.previousSecrets,
    encrypt: SENSITIVE_PREFIXES,
    readPlaintext: encryption.readClearValues,
  });
}
