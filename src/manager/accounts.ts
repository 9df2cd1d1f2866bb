import { untilAborted } from "../abort.ts";
import { AcmeClient } from "../acme/client.ts";
import type { RetryPolicy } from "../acme/retry.ts";
import type { Logger } from "../logger.ts";
import type { Storage } from "../storage/storage.ts";
import type { ExternalAccountBinding } from "../webcrypto/jws.ts";
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, type KeyAlgorithmName } from "../webcrypto/keys.ts";
import { underLock, type LockTiming } from "./lock-runner.ts";
import type { AccountRecord } from "./records.ts";
import { issuerKey, keys } from "./storage-keys.ts";
import { readJson, replacing, writeJson } from "./stored-json.ts";

/** A CA the manager may use. The first that succeeds issues. */
export interface IssuerOptions {
  /** The CA's directory URL. */
  directoryUrl: string;
  /** EAB credentials, when this CA requires them. */
  externalAccountBinding?: ExternalAccountBinding;
  /** A `fetch` for this CA (e.g. one that trusts a private CA). */
  fetch?: typeof fetch;
  /** Certificate profile to ask this CA for. */
  profile?: string;
}

/** What {@link Accounts} needs. */
export interface AccountsOptions {
  storage: Storage;
  email: string | undefined;
  accountKeyType: KeyAlgorithmName;
  termsOfServiceAgreed: boolean;
  fetch: typeof fetch | undefined;
  retry: Partial<RetryPolicy> | undefined;
  logger: Logger;
  lock: LockTiming;
  now: () => number;
  onCreated: (directoryUrl: string) => void;
}

/**
 * One ACME account per CA + email, shared by every instance on the storage: loaded when stored,
 * otherwise registered under a lock and re-read after acquiring it, so instances starting at once
 * create one account.
 */
export class Accounts {
  readonly #clients = new Map<string, Promise<AcmeClient>>();

  constructor(private readonly options: AccountsOptions) {}

  /**
   * The client (with its account) for `issuer`. `signal` stops this caller's wait, not the account's
   * creation, which other callers may share: it retries failed requests on its own schedule (seconds),
   * and a caller that gave up (the CLI, on a busy --http port) must not wait for that to end.
   */
  client(issuer: IssuerOptions, signal?: AbortSignal): Promise<AcmeClient> {
    let client = this.#clients.get(issuer.directoryUrl);
    if (!client) {
      client = this.#load(issuer);
      client.catch(() => this.#clients.delete(issuer.directoryUrl));
      this.#clients.set(issuer.directoryUrl, client);
    }
    return signal ? untilAborted(client, signal) : client;
  }

  async #load(issuer: IssuerOptions): Promise<AcmeClient> {
    const { storage, email } = this.options;
    const ca = issuerKey(issuer.directoryUrl);
    const key = keys.account(ca, email);
    const fetchFn = issuer.fetch ?? this.options.fetch;
    const common = {
      directoryUrl: issuer.directoryUrl,
      logger: this.options.logger,
      ...(fetchFn ? { fetch: fetchFn } : {}),
      ...(this.options.retry ? { retry: this.options.retry } : {}),
    };
    const make = async (record: AccountRecord) =>
      new AcmeClient({ ...common, accountKey: await importPrivateKeyPem(record.keyPem), accountUrl: record.url });
    const stored = await readJson<AccountRecord>(storage, key);
    if (stored) return make(stored.value);
    return underLock(storage, keys.accountLock(ca), this.options.lock, async ({ fence, signal, guard }) => {
      const again = await readJson<AccountRecord>(storage, key);
      if (again) return make(again.value);
      const accountKey = await generateKeyPair(this.options.accountKeyType);
      const client = new AcmeClient({ ...common, accountKey });
      const eab = issuer.externalAccountBinding;
      await client.newAccount({
        signal,
        guard,
        termsOfServiceAgreed: this.options.termsOfServiceAgreed,
        ...(email ? { contact: [`mailto:${email}`] } : {}),
        ...(eab ? { externalAccountBinding: eab } : {}),
      });
      const record: AccountRecord = {
        directoryUrl: issuer.directoryUrl,
        url: client.accountUrl!,
        keyPem: await exportPrivateKeyPem(accountKey.privateKey),
        createdAt: new Date(this.options.now()).toISOString(),
        ...(email ? { email } : {}),
      };
      await writeJson(storage, key, record, replacing(storage, again, fence));
      this.options.onCreated(issuer.directoryUrl);
      return client;
    });
  }
}
