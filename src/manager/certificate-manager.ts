import { AcmeClient } from "../acme/client.ts";
import { sameIdentifiers, toIdentifier, toIdentifiers } from "../acme/identifiers.ts";
import { obtainCertificate, type ObtainedCertificate } from "../acme/obtain-certificate.ts";
import { ariCertificateId } from "../acme/renewal-info.ts";
import type { RetryPolicy } from "../acme/retry.ts";
import type { Solver } from "../acme/solver.ts";
import type { AcmeIdentifier, RevocationReasonCode } from "../acme/types.ts";
import { EdgecertError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import type { Lease, Storage } from "../storage/storage.ts";
import type { ExternalAccountBinding } from "../webcrypto/jws.ts";
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, type KeyAlgorithmName } from "../webcrypto/keys.ts";
import { certificateMatchesKey, parseCertificate } from "../webcrypto/x509.ts";
import type { ManagerEvent } from "./events.ts";
import type { HostPolicy } from "./host-policy.ts";
import type { AccountRecord, CertificateRecord, NameIndexRecord, PendingOrderRecord, RenewalState } from "./records.ts";
import {
  isDue,
  nextAttemptAfterFailure,
  renewAtFromAri,
  renewAtFromLifetime,
  type RenewBefore,
} from "./renewal-schedule.ts";
import { StorageHttp01Solver } from "./storage-http01-solver.ts";
import { certificateId, issuerKey, keys } from "./storage-keys.ts";

/** A CA the manager may use. The first that succeeds issues. */
export interface IssuerOptions {
  directoryUrl: string;
  externalAccountBinding?: ExternalAccountBinding;
  /** A `fetch` for this CA (e.g. one that trusts a private CA). */
  fetch?: typeof fetch;
  profile?: string;
}

/** Options for {@link CertificateManager}. */
export interface CertificateManagerOptions {
  storage: Storage;
  /** The primary CA. */
  directoryUrl: string;
  /** Fallback CAs, tried in order when the primary cannot issue. */
  issuers?: IssuerOptions[];
  /** Contact email for the account (one account per CA + email). */
  email?: string;
  externalAccountBinding?: ExternalAccountBinding;
  /** Certificate key type. Default ES256. */
  keyType?: KeyAlgorithmName;
  /** Account key type. Default ES256. */
  accountKeyType?: KeyAlgorithmName;
  /** Solvers by challenge type. Default: http-01 with tokens in `storage` (see {@link httpChallengeResponse}). */
  solvers?: Record<string, Solver>;
  preferredChallenges?: string[];
  /** Which names {@link getCertificate} may obtain on demand. Default: none (only managed names). */
  hostPolicy?: HostPolicy;
  /** When to renew without ARI. Default: when 1/3 of the lifetime remains. */
  renewBefore?: RenewBefore;
  /** Certificate profile (draft-ietf-acme-profiles). */
  profile?: string;
  /** Set false to refuse the CA's terms of service (account creation will then fail). Default true. */
  termsOfServiceAgreed?: boolean;
  /** A `fetch` for every CA without its own. */
  fetch?: typeof fetch;
  /** Retry behaviour of the ACME clients. */
  retry?: Partial<RetryPolicy>;
  onEvent?: (event: ManagerEvent) => void;
  logger?: Logger;
  /** Lease on one certificate's lock while it is obtained; renewed while work goes on. Default 120 000 ms. */
  lockTtlMs?: number;
  /** How long to wait for another instance's lock. Default 180 000 ms. */
  lockWaitMs?: number;
  /** How long a certificate read from storage is served from memory. Default 60 000 ms. */
  cacheTtlMs?: number;
  /** Clock (tests). Default `Date.now`. */
  now?: () => number;
}

/** A certificate ready to serve. */
export interface ManagedCertificate {
  id: string;
  names: string[];
  /** Leaf first, PEM. */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  issuer: string;
  renewAt: Date;
  /** When a scheduler should look at it again: its renewal time, or sooner to re-ask the CA's ARI window. */
  nextCheckAt: Date;
}

/** Result of {@link CertificateManager.renewDue}. */
export interface RenewDueResult {
  checked: number;
  renewed: string[];
  failed: Array<{ id: string; error: string }>;
}

const toManaged = (r: CertificateRecord): ManagedCertificate => ({
  id: r.id,
  names: r.identifiers.map((i) => i.value),
  chainPem: r.chainPem,
  keyPem: r.keyPem,
  notBefore: new Date(r.notBefore),
  notAfter: new Date(r.notAfter),
  serialNumber: r.serialNumber,
  issuer: r.issuer,
  renewAt: new Date(r.renewal.renewAt),
  nextCheckAt: new Date(Math.min(r.renewal.renewAt, r.renewal.ariCheckAt ?? Infinity)),
});

/**
 * Obtains, stores, serves and renews certificates, safely across instances that share one storage:
 * each certificate is obtained under a lock, storage is re-read after acquiring it, the order and its
 * key are recorded before finalize so a crashed run resumes instead of ordering again, and a certificate
 * with its key is one atomic value.
 */
export class CertificateManager {
  private readonly storage: Storage;
  private readonly issuers: IssuerOptions[];
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly http01: StorageHttp01Solver;
  private readonly solvers: Record<string, Solver>;
  private readonly clients = new Map<string, Promise<AcmeClient>>();
  private readonly inflight = new Map<string, Promise<CertificateRecord>>();
  /** Certificates read recently, by id, and which id serves each name. */
  private readonly cache = new Map<string, { record: CertificateRecord; until: number }>();
  private readonly cachedNames = new Map<string, string>();
  private readonly listeners = new Set<(event: ManagerEvent) => void>();

  constructor(private readonly options: CertificateManagerOptions) {
    if (!options?.storage) throw new EdgecertError("invalid_input", "storage is required");
    if (!options.directoryUrl) throw new EdgecertError("invalid_input", "directoryUrl is required");
    this.storage = options.storage;
    const primary: IssuerOptions = { directoryUrl: options.directoryUrl };
    if (options.externalAccountBinding) primary.externalAccountBinding = options.externalAccountBinding;
    if (options.profile) primary.profile = options.profile;
    this.issuers = [primary, ...(options.issuers ?? [])];
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.http01 = new StorageHttp01Solver(this.storage);
    this.solvers = options.solvers ?? { "http-01": this.http01 };
  }

  // ------------------------------------------------------------------ public API

  /**
   * Ensures a valid certificate exists for exactly these names (one certificate per name set),
   * obtaining or renewing it when missing or due. Concurrent calls — in this process or in others
   * sharing the storage — produce one order.
   */
  async manage(names: string[], options: { signal?: AbortSignal } = {}): Promise<ManagedCertificate> {
    const identifiers = toIdentifiers(names);
    const id = await certificateId(identifiers);
    const current = await this.readCertificate(id);
    if (current && !isDue(current.renewal, this.now())) return toManaged(current);
    return toManaged(await this.obtain(id, identifiers, { force: false, signal: options.signal }));
  }

  /**
   * The certificate to serve for `name` (SNI): from memory, then storage; obtained on demand only when
   * the host policy allows. A certificate that is due but still valid is served while it renews in the
   * background.
   */
  async getCertificate(name: string): Promise<ManagedCertificate | undefined> {
    let value: string;
    try {
      value = toIdentifier(name).value;
    } catch {
      return undefined;
    }
    const now = this.now();
    const cachedId = this.cachedNames.get(value);
    const cached = cachedId === undefined ? undefined : this.cache.get(cachedId);
    let record = cached && cached.until > now ? cached.record : await this.readByName(value);
    if (record && Date.parse(record.notAfter) > now) {
      if (isDue(record.renewal, now)) {
        void this.obtain(record.id, record.identifiers, { force: false }).catch((err: unknown) =>
          this.logger.log("warn", "manager.background_renewal_failed", { id: record!.id, error: String(err) }),
        );
      }
      return toManaged(record);
    }
    if (!record) {
      if (!this.options.hostPolicy || !(await this.options.hostPolicy(value))) return undefined;
    }
    record = await this.obtain(record?.id ?? (await certificateId([toIdentifier(value)])), record?.identifiers ?? [toIdentifier(value)], {
      force: false,
    });
    return toManaged(record);
  }

  /** Renews every stored certificate that is due (or whose ARI window moved). */
  async renewDue(options: { signal?: AbortSignal } = {}): Promise<RenewDueResult> {
    const result: RenewDueResult = { checked: 0, renewed: [], failed: [] };
    let cursor: string | undefined;
    do {
      const page = await this.storage.list(keys.certificatePrefix, cursor ? { cursor } : {});
      for (const key of page.keys) {
        const record = await this.readCertificate(key.slice(keys.certificatePrefix.length).replace(/\.json$/, ""));
        if (!record) continue;
        result.checked++;
        try {
          if ((await this.maintainRecord(record, options.signal)).renewed) result.renewed.push(record.id);
        } catch (err) {
          result.failed.push({ id: record.id, error: err instanceof Error ? err.message : String(err) });
        }
      }
      cursor = page.cursor;
    } while (cursor);
    return result;
  }

  /**
   * Maintenance of one certificate: refreshes its ARI window when the CA asked to be asked again, and
   * renews it if due; obtains it if missing. What a scheduler calls per certificate.
   */
  async maintain(names: string[], options: { signal?: AbortSignal } = {}): Promise<{ certificate: ManagedCertificate; renewed: boolean }> {
    const identifiers = toIdentifiers(names);
    const id = await certificateId(identifiers);
    const record = await this.readCertificate(id, true);
    if (!record) return { certificate: toManaged(await this.obtain(id, identifiers, { force: false, signal: options.signal })), renewed: true };
    const { record: current, renewed } = await this.maintainRecord(record, options.signal);
    return { certificate: toManaged(current), renewed };
  }

  /** A stored certificate for exactly these names, without contacting the CA. */
  async find(names: string[]): Promise<ManagedCertificate | undefined> {
    const record = await this.readCertificate(await certificateId(toIdentifiers(names)), true);
    return record ? toManaged(record) : undefined;
  }

  private async maintainRecord(record: CertificateRecord, signal?: AbortSignal): Promise<{ record: CertificateRecord; renewed: boolean }> {
    const refreshed = await this.refreshAri(record);
    if (!isDue(refreshed.renewal, this.now())) return { record: refreshed, renewed: false };
    return { record: await this.obtain(record.id, record.identifiers, { force: false, signal }), renewed: true };
  }

  /** Renews the certificate for these names now, whether or not it is due. */
  async renew(names: string[], options: { signal?: AbortSignal } = {}): Promise<ManagedCertificate> {
    const identifiers = toIdentifiers(names);
    const id = await certificateId(identifiers);
    return toManaged(await this.obtain(id, identifiers, { force: true, signal: options.signal }));
  }

  /** Every stored certificate (for listings), without re-reading from the CA. */
  async list(): Promise<ManagedCertificate[]> {
    const out: ManagedCertificate[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.storage.list(keys.certificatePrefix, cursor ? { cursor } : {});
      for (const key of page.keys) {
        const record = await this.readCertificate(key.slice(keys.certificatePrefix.length).replace(/\.json$/, ""));
        if (record) out.push(toManaged(record));
      }
      cursor = page.cursor;
    } while (cursor);
    return out;
  }

  /**
   * Revokes a certificate (RFC 8555 §7.6) and forgets it: the one for exactly the name set `names`,
   * or — given one name as a string — the one currently serving that name.
   */
  async revoke(names: string | string[], reason?: RevocationReasonCode): Promise<void> {
    const record = await this.readTarget(names);
    if (!record) throw new EdgecertError("invalid_input", `no certificate for ${String(names)}`);
    const client = await this.client(this.issuers.find((i) => i.directoryUrl === record.directoryUrl) ?? { directoryUrl: record.directoryUrl });
    await client.revokeCertificate(record.chainPem, reason === undefined ? {} : { reason });
    await this.forget(record);
    this.emit({ type: "certificate_revoked", id: record.id, names: record.identifiers.map((i) => i.value), issuer: record.directoryUrl });
  }

  /** Removes a certificate from storage without revoking it (name set, or the one serving a name). */
  async remove(names: string | string[]): Promise<boolean> {
    const record = await this.readTarget(names);
    if (!record) return false;
    await this.forget(record);
    return true;
  }

  /** The certificate for exactly a name set (array), or the one serving a single name (string). */
  private async readTarget(names: string | string[]): Promise<CertificateRecord | undefined> {
    if (typeof names === "string") return this.readByName(toIdentifier(names).value);
    return this.readCertificate(await certificateId(toIdentifiers(names)), true);
  }

  /**
   * Calls `listener` with every event from now on (e.g. to reload a TLS server on
   * `certificate_renewed`); returns the function that unsubscribes it.
   */
  subscribe(listener: (event: ManagerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The http-01 key authorization for `token` when the default solver is in use, else undefined. */
  httpChallengeResponse(token: string): Promise<string | undefined> {
    return this.http01.response(token);
  }

  // ------------------------------------------------------------------ obtaining

  private obtain(id: string, identifiers: AcmeIdentifier[], how: { force: boolean; signal?: AbortSignal | undefined }): Promise<CertificateRecord> {
    // One operation per certificate per process; other processes are held off by the storage lock.
    const running = this.inflight.get(id);
    if (running) return running;
    const started = this.now();
    const work = this.obtainLocked(id, identifiers, how.force ? started : undefined, how.signal).finally(() => this.inflight.delete(id));
    this.inflight.set(id, work);
    return work;
  }

  private async obtainLocked(id: string, identifiers: AcmeIdentifier[], forcedSince: number | undefined, signal?: AbortSignal): Promise<CertificateRecord> {
    return this.withLock(keys.certificateLock(id), signal, async (workSignal) => {
      // Re-read under the lock: another instance may have done the work while we waited.
      const existing = await this.readCertificate(id, true);
      if (existing) {
        const freshEnough = forcedSince !== undefined ? Date.parse(existing.issuedAt) >= forcedSince : !isDue(existing.renewal, this.now());
        if (freshEnough) return existing;
      }
      const names = identifiers.map((i) => i.value);
      this.emit({ type: "certificate_obtaining", id, names });
      let lastError: unknown;
      for (const issuer of this.issuers) {
        try {
          const record = await this.obtainFrom(issuer, id, identifiers, existing, workSignal);
          this.emit({
            type: existing ? "certificate_renewed" : "certificate_obtained",
            id,
            names,
            issuer: issuer.directoryUrl,
            notAfter: new Date(record.notAfter),
            renewAt: new Date(record.renewal.renewAt),
          });
          return record;
        } catch (err) {
          lastError = err;
          this.logger.log("warn", "manager.issuer_failed", { id, issuer: issuer.directoryUrl, error: String(err) });
          if (workSignal.aborted || (err instanceof EdgecertError && (err.code === "invalid_input" || err.code === "invalid_identifier"))) break;
        }
      }
      const nextAttemptAt = existing ? await this.recordFailure(existing, lastError) : undefined;
      this.emit({ type: "certificate_failed", id, names, error: lastError, ...(nextAttemptAt ? { nextAttemptAt: new Date(nextAttemptAt) } : {}) });
      throw lastError;
    });
  }

  private async obtainFrom(
    issuer: IssuerOptions,
    id: string,
    identifiers: AcmeIdentifier[],
    existing: CertificateRecord | undefined,
    signal: AbortSignal,
  ): Promise<CertificateRecord> {
    const client = await this.client(issuer);
    const accountUrl = client.accountUrl!;
    // Crash safety: the order intent (and its key) is recorded before newOrder, and its URL as soon as
    // it is known; a rerun resumes it.
    let pending = await this.readJson<PendingOrderRecord>(keys.order(id));
    if (
      pending &&
      (pending.directoryUrl !== issuer.directoryUrl ||
        pending.accountUrl !== accountUrl ||
        !sameIdentifiers(pending.identifiers, identifiers) ||
        (pending.orderUrl !== undefined && pending.orderUrl === existing?.orderUrl))
    ) {
      pending = undefined;
    }
    let resumeOrderUrl = pending?.orderUrl;
    if (pending && !resumeOrderUrl) resumeOrderUrl = await this.findLostOrder(client, identifiers, signal);
    const keyPair = pending
      ? await importPrivateKeyPem(pending.keyPem)
      : await generateKeyPair(this.options.keyType ?? "ES256");
    const intent: PendingOrderRecord = pending ?? {
      id,
      identifiers,
      directoryUrl: issuer.directoryUrl,
      accountUrl,
      keyPem: await exportPrivateKeyPem(keyPair.privateKey),
      createdAt: new Date(this.now()).toISOString(),
    };
    if (!pending) await this.writeJson(keys.order(id), intent);

    const directory = await client.directory({ signal });
    const replaces = existing?.ariId && directory.renewalInfo ? existing.ariId : undefined;
    const profile = issuer.profile ?? this.options.profile;
    const obtained: ObtainedCertificate = await obtainCertificate({
      client,
      names: identifiers,
      solvers: this.solvers,
      certificateKey: keyPair,
      signal,
      logger: this.logger,
      ...(this.options.preferredChallenges ? { preferredChallenges: this.options.preferredChallenges } : {}),
      ...(resumeOrderUrl ? { resumeOrderUrl } : {}),
      ...(replaces ? { replaces } : {}),
      ...(profile ? { profile } : {}),
      onOrder: async (order) => {
        if (intent.orderUrl === order.url) return;
        intent.orderUrl = order.url;
        await this.writeJson(keys.order(id), intent);
      },
    });

    const leaf = parseCertificate(obtained.certificatePem);
    // Never store a certificate with a key it was not issued for (a resumed order, a confused CA).
    if (!(await certificateMatchesKey(leaf, keyPair))) {
      await this.storage.delete(keys.order(id));
      throw new EdgecertError("bad_response", `the certificate for ${identifiers.map((i) => i.value).join(", ")} does not match its key`);
    }
    const record: CertificateRecord = {
      id,
      identifiers,
      directoryUrl: issuer.directoryUrl,
      chainPem: obtained.chainPem,
      keyPem: intent.keyPem,
      serialNumber: leaf.serialNumber,
      issuer: leaf.issuer,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      orderUrl: obtained.orderUrl,
      issuedAt: new Date(this.now()).toISOString(),
      renewal: await this.renewalFor(client, leaf),
    };
    if (leaf.authorityKeyIdentifierBytes) record.ariId = ariCertificateId(leaf);
    // One put: chain, key and metadata together.
    await this.writeJson(keys.certificate(id), record);
    for (const identifier of identifiers) await this.writeJson<NameIndexRecord>(keys.nameIndex(identifier.value), { id });
    await this.storage.delete(keys.order(id));
    this.remember(record);
    return record;
  }

  /** An intent without an order URL: the newOrder may have reached the CA. Look for it before ordering again. */
  private async findLostOrder(client: AcmeClient, identifiers: AcmeIdentifier[], signal: AbortSignal): Promise<string | undefined> {
    try {
      const urls = await client.listOrders({ signal });
      for (const url of urls.reverse()) {
        const order = await client.getOrder(url, { signal });
        if (order.status !== "invalid" && sameIdentifiers(order.identifiers, identifiers)) {
          this.logger.log("info", "manager.resumed_lost_order", { url });
          return url;
        }
      }
    } catch (err) {
      this.logger.log("warn", "manager.order_lookup_failed", { error: String(err) });
    }
    return undefined;
  }

  private async renewalFor(client: AcmeClient, leaf: ReturnType<typeof parseCertificate>): Promise<RenewalState> {
    const now = this.now();
    const state: RenewalState = {
      renewAt: renewAtFromLifetime(leaf.notBefore.getTime(), leaf.notAfter.getTime(), this.options.renewBefore),
      failures: 0,
    };
    const dir = await client.directory();
    if (dir.renewalInfo && leaf.authorityKeyIdentifierBytes) {
      try {
        const info = await client.renewalInfo(leaf);
        state.renewAt = renewAtFromAri(info, now);
        state.ariWindow = { start: info.suggestedWindow.start.getTime(), end: info.suggestedWindow.end.getTime() };
        state.ariCheckAt = now + (info.retryAfterMs ?? 6 * 3_600_000);
      } catch (err) {
        // RFC 9773 §4.3: without renewal info, fall back to the lifetime rule and ask again later.
        state.ariCheckAt = now + 3_600_000;
        this.logger.log("warn", "manager.ari_failed", { error: String(err) });
      }
    }
    return state;
  }

  /** Asks the CA again for the renewal window when it said to (Retry-After); keeps the record current. */
  private async refreshAri(record: CertificateRecord): Promise<CertificateRecord> {
    const now = this.now();
    if (record.renewal.ariCheckAt === undefined || record.renewal.ariCheckAt > now) return record;
    try {
      const client = await this.client(this.issuers.find((i) => i.directoryUrl === record.directoryUrl) ?? { directoryUrl: record.directoryUrl });
      const renewal = { ...record.renewal, ...(await this.renewalFor(client, parseCertificate(record.chainPem))) };
      // A window that did not move keeps the time already chosen inside it.
      if (record.renewal.ariWindow && renewal.ariWindow && record.renewal.ariWindow.start === renewal.ariWindow.start && record.renewal.ariWindow.end === renewal.ariWindow.end) {
        renewal.renewAt = record.renewal.renewAt;
      }
      renewal.failures = record.renewal.failures;
      if (record.renewal.nextAttemptAt !== undefined) renewal.nextAttemptAt = record.renewal.nextAttemptAt;
      const updated = { ...record, renewal };
      await this.writeJson(keys.certificate(record.id), updated);
      this.remember(updated);
      return updated;
    } catch (err) {
      this.logger.log("warn", "manager.ari_refresh_failed", { id: record.id, error: String(err) });
      return record;
    }
  }

  private async recordFailure(existing: CertificateRecord, error: unknown): Promise<number> {
    const now = this.now();
    const failures = existing.renewal.failures + 1;
    const nextAttemptAt = nextAttemptAfterFailure(failures, now, Date.parse(existing.notAfter));
    const updated: CertificateRecord = {
      ...existing,
      renewal: { ...existing.renewal, failures, nextAttemptAt, lastError: error instanceof Error ? error.message : String(error) },
    };
    try {
      await this.writeJson(keys.certificate(existing.id), updated);
      this.remember(updated);
    } catch (err) {
      this.logger.log("error", "manager.record_failure_failed", { id: existing.id, error: String(err) });
    }
    return nextAttemptAt;
  }

  // ------------------------------------------------------------------ accounts

  private client(issuer: IssuerOptions): Promise<AcmeClient> {
    let client = this.clients.get(issuer.directoryUrl);
    if (!client) {
      client = this.loadOrCreateAccount(issuer);
      client.catch(() => this.clients.delete(issuer.directoryUrl));
      this.clients.set(issuer.directoryUrl, client);
    }
    return client;
  }

  private async loadOrCreateAccount(issuer: IssuerOptions): Promise<AcmeClient> {
    const ca = issuerKey(issuer.directoryUrl);
    const key = keys.account(ca, this.options.email);
    const fetchFn = issuer.fetch ?? this.options.fetch;
    const common = {
      directoryUrl: issuer.directoryUrl,
      logger: this.logger,
      ...(fetchFn ? { fetch: fetchFn } : {}),
      ...(this.options.retry ? { retry: this.options.retry } : {}),
    };
    const make = async (record: AccountRecord) =>
      new AcmeClient({ ...common, accountKey: await importPrivateKeyPem(record.keyPem), accountUrl: record.url });
    const stored = await this.readJson<AccountRecord>(key);
    if (stored) return make(stored);
    // Register under a lock and re-read after acquiring it: one account per CA + email, whatever the
    // number of instances starting at once.
    return this.withLock(keys.accountLock(ca), undefined, async (signal) => {
      const again = await this.readJson<AccountRecord>(key);
      if (again) return make(again);
      const accountKey = await generateKeyPair(this.options.accountKeyType ?? "ES256");
      const client = new AcmeClient({ ...common, accountKey });
      const eab = issuer.externalAccountBinding;
      await client.newAccount({
        signal,
        termsOfServiceAgreed: this.options.termsOfServiceAgreed ?? true,
        ...(this.options.email ? { contact: [`mailto:${this.options.email}`] } : {}),
        ...(eab ? { externalAccountBinding: eab } : {}),
      });
      const record: AccountRecord = {
        directoryUrl: issuer.directoryUrl,
        url: client.accountUrl!,
        keyPem: await exportPrivateKeyPem(accountKey.privateKey),
        createdAt: new Date(this.now()).toISOString(),
        ...(this.options.email ? { email: this.options.email } : {}),
      };
      await this.writeJson(key, record);
      this.emit({ type: "account_created", issuer: issuer.directoryUrl });
      return client;
    });
  }

  // ------------------------------------------------------------------ storage helpers

  /** Runs `fn` holding `name`, renewing the lease as it goes; a lost lease aborts the work. */
  private async withLock<T>(name: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ttlMs = this.options.lockTtlMs ?? 120_000;
    const lease: Lease = await this.storage.lock(name, { ttlMs, waitMs: this.options.lockWaitMs ?? 180_000, ...(signal ? { signal } : {}) });
    const lost = new AbortController();
    const workSignal = signal ? AbortSignal.any([signal, lost.signal]) : lost.signal;
    const timer = setInterval(() => {
      lease.renew(ttlMs).catch((err: unknown) => {
        this.logger.log("error", "manager.lease_lost", { lock: name, error: String(err) });
        lost.abort(new EdgecertError("storage", `lost the lock ${name}`, { cause: err }));
      });
    }, Math.max(1_000, ttlMs / 3));
    try {
      return await fn(workSignal);
    } finally {
      clearInterval(timer);
      await lease.release().catch(() => {});
    }
  }

  private async readJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.storage.get(key);
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as T;
    } catch (cause) {
      throw new EdgecertError("storage", `stored value ${key} is not valid JSON`, { cause });
    }
  }

  private writeJson<T>(key: string, value: T): Promise<void> {
    return this.storage.put(key, JSON.stringify(value));
  }

  private async readCertificate(id: string, bypassCache = false): Promise<CertificateRecord | undefined> {
    if (!bypassCache) {
      const entry = this.cache.get(id);
      if (entry && entry.until > this.now()) return entry.record;
    }
    const record = await this.readJson<CertificateRecord>(keys.certificate(id));
    if (record) this.remember(record);
    return record;
  }

  private async readByName(name: string): Promise<CertificateRecord | undefined> {
    const index = await this.readJson<NameIndexRecord>(keys.nameIndex(name));
    return index ? this.readCertificate(index.id, true) : undefined;
  }

  private remember(record: CertificateRecord): void {
    const until = this.now() + (this.options.cacheTtlMs ?? 60_000);
    this.cache.set(record.id, { record, until });
    for (const i of record.identifiers) this.cachedNames.set(i.value, record.id);
  }

  private async forget(record: CertificateRecord): Promise<void> {
    await this.storage.delete(keys.certificate(record.id));
    this.cache.delete(record.id);
    for (const i of record.identifiers) {
      const index = await this.readJson<NameIndexRecord>(keys.nameIndex(i.value));
      if (index?.id === record.id) await this.storage.delete(keys.nameIndex(i.value));
      if (this.cachedNames.get(i.value) === record.id) this.cachedNames.delete(i.value);
    }
  }

  private emit(event: ManagerEvent): void {
    this.logger.log(event.type === "certificate_failed" ? "warn" : "info", `manager.${event.type}`, {
      ...(event.names ? { names: event.names } : {}),
      ...(event.issuer ? { issuer: event.issuer } : {}),
      ...(event.notAfter ? { notAfter: event.notAfter.toISOString() } : {}),
      ...(event.error ? { error: String(event.error) } : {}),
    });
    for (const listener of [this.options.onEvent, ...this.listeners]) {
      try {
        listener?.(event);
      } catch (err) {
        this.logger.log("warn", "manager.on_event_threw", { error: String(err) });
      }
    }
  }
}
