import { checkAccountKeyAlgorithm, checkEmail } from "../acme/account-checks.ts";
import { dnsPersistRecordsForClient, type DnsPersistAccountRecords } from "../acme/dns-persist/records.ts";
import { toIdentifier, toIdentifiers } from "../acme/identifiers.ts";
import type { RetryPolicy } from "../acme/retry.ts";
import type { Solver } from "../acme/solver.ts";
import { withHttp01SelfCheck, type Http01SelfCheckOptions } from "../acme/solvers/http01-self-check.ts";
import type { RevocationReasonCode } from "../acme/types.ts";
import { EdgecertError } from "../errors.ts";
import { silentLogger, type Logger } from "../logger.ts";
import type { DueIndex } from "../storage/due-index.ts";
import type { Storage } from "../storage/storage.ts";
import type { ExternalAccountBinding } from "../webcrypto/jws.ts";
import type { KeyAlgorithmName } from "../webcrypto/keys.ts";
import { parseCertificate } from "../webcrypto/x509.ts";
import { caLimitsFor, checkCaLimits, type CaLimits } from "../budget/ca-limits.ts";
import type { QueuedOrder } from "../budget/fair-queue.ts";
import { CaaCache, type CaaCacheOptions } from "../preflight/caa-cache.ts";
import { pinningCaaRecord } from "../preflight/caa-policy.ts";
import { Accounts, type IssuerOptions } from "./accounts.ts";
import { CaBudgets, type BudgetQueue } from "./ca-budgets.ts";
import type { FleetBudget } from "../budget/fleet-budget.ts";
import { mergeRenewal, renewalStateFor } from "./ari.ts";
import { CertificateStore } from "./certificate-store.ts";
import { DueSchedule } from "./due-schedule.ts";
import type { ManagerEvent } from "./events.ts";
import type { HostPolicy } from "./host-policy.ts";
import { Issuance } from "./issuance.ts";
import { DEFAULT_LOCK_TTL_MS, DEFAULT_LOCK_WAIT_MS, ifUnlocked, underLock, type LockTiming, type Sleep } from "./lock-runner.ts";
import { toManaged, type ManagedCertificate } from "./managed-certificate.ts";
import { lookupNames, NameIndex } from "./name-index.ts";
import { OnDemandGate, type OnDemandLimits } from "./on-demand-gate.ts";
import { OrderIntents } from "./order-intents.ts";
import { pickServedCertificate, rankCovering } from "./pick-served-certificate.ts";
import type { CertificateRecord } from "./records.ts";
import { isDue, nextCheckAt, type RenewBefore } from "./renewal-schedule.ts";
import { StorageHttp01Solver } from "./storage-http01-solver.ts";
import { certificateId, keys } from "./storage-keys.ts";

export type { IssuerOptions } from "./accounts.ts";
export type { CertificateFailure, ManagedCertificate } from "./managed-certificate.ts";

/** Options for {@link CertificateManager}. */
export interface CertificateManagerOptions {
  /** Where accounts, keys, certificates, tokens and locks live (shared by every instance). */
  storage: Storage;
  /** The primary CA. */
  directoryUrl: string;
  /** Fallback CAs, tried in order when the primary cannot issue. */
  issuers?: IssuerOptions[];
  /** Contact email for the account (one account per CA + email). */
  email?: string;
  /** EAB credentials for the primary CA, when it requires them. */
  externalAccountBinding?: ExternalAccountBinding;
  /** Certificate key type. Default ES256. */
  keyType?: KeyAlgorithmName;
  /** Account key type: ES256 (default), ES384 or RS256 — EdDSA is refused (`unsupported_key`): CAs reject it. */
  accountKeyType?: KeyAlgorithmName;
  /** Solvers by challenge type. Default: http-01 with tokens in `storage` (see {@link CertificateManager.httpChallengeResponse}). */
  solvers?: Record<string, Solver>;
  /** Challenge types in order of preference. */
  preferredChallenges?: string[];
  /** Which names {@link CertificateManager.getCertificate} may obtain on demand. Default: none (only managed names). */
  hostPolicy?: HostPolicy;
  /** Bounds on on-demand orders (per-name backoff, at once, per hour). */
  onDemand?: OnDemandLimits;
  /** When to renew without ARI. Default: when 1/3 of the lifetime remains (never more than half of it). */
  renewBefore?: RenewBefore;
  /** Certificate profile (draft-ietf-acme-profiles). */
  profile?: string;
  /**
   * The primary CA's limits, spent as one budget by every process sharing `storage` (see
   * `FleetBudget`): an order the budget cannot pay for waits in a fair queue instead of being sent,
   * and a CA's rate-limit refusal pauses its bucket fleet-wide until `Retry-After`. Default: the
   * CA's published limits when known (`caLimitsFor`: Let's Encrypt's production and staging), else
   * none. `false`: no budget.
   */
  caLimits?: CaLimits | false;
  /**
   * The clock and timer the CA budget and its queue run on (simulations in accelerated time).
   * Default: `now` and a timer.
   */
  budgetClock?: { now: () => number; sleep: Sleep };
  /**
   * Longest an order waits in the CA budget's queue. Beyond it the attempt fails with
   * `BudgetSpentError` (code `budget_spent`, nothing sent) and its failure state waits until the budget
   * refills: for runtimes that cannot wait for hours (a Worker invocation). Default: no limit.
   */
  budgetMaxWaitMs?: number;
  /**
   * Where orders wait for a CA's budget, given the CA's directory URL and its budget: a queue, or
   * undefined for this manager's own fair queue (the default; each process takes its own turns).
   * The Worker hands every invocation's orders to one Durable Object's queue, so the whole deployment
   * takes turns across registered domains in one queue.
   */
  budgetQueue?: (directoryUrl: string, budget: FleetBudget) => BudgetQueue | undefined;
  /**
   * CAA (RFC 8659, with RFC 8657's `accounturi` and `validationmethods`) checked over DNS-over-HTTPS
   * before an order is sent or spends the budget: a name whose CAA records refuse this CA, account or
   * challenge type fails with `caa_forbidden` naming the record, and no order is sent. The CA's
   * identities come from its directory (`meta.caaIdentities`) unless given. A lookup that fails does
   * not hold the order back (the CA checks CAA itself). Default: on, through Cloudflare's resolver,
   * for CAs with published limits (Let's Encrypt); off for others. `false`: off.
   */
  caaCheck?: { resolverUrl: string; caaIdentities?: string[]; fetch?: typeof fetch } | false;
  /**
   * The CAA check's answers, kept per owner name across orders for their DNS TTL (see `CaaCache`), so
   * names under one registered domain look its records up once per TTL, not once per order; a refusal
   * is always confirmed with fresh lookups. Default: this manager's own cache, TTLs clamped to between
   * one minute and one hour, at most 10,000 names. Options: this manager's own cache with other bounds.
   * A `CaaCache`: shared with every manager given it (e.g. one per Worker isolate). `false`: every
   * order asks anew.
   */
  caaCache?: CaaCache | CaaCacheOptions | false;
  /**
   * Before an http-01 challenge is answered, fetch the token through the public path the CA will use
   * and answer only if this server serves it (`withHttp01SelfCheck`): a misrouted name fails at once,
   * without spending a validation at the CA. For servers that can reach their own names. Default off.
   */
  http01SelfCheck?: boolean | Http01SelfCheckOptions;
  /**
   * Agreement to the CA's terms of service (RFC 8555 §7.3), for the accounts this manager creates. Not
   * assumed: when a CA publishes terms (`meta.termsOfService`) and this is not `true`, creating its
   * account fails with `terms_not_agreed` naming the terms URL. Stored accounts are used either way.
   */
  termsOfServiceAgreed?: boolean;
  /** A `fetch` for every CA without its own. */
  fetch?: typeof fetch;
  /** Retry behaviour of the ACME clients. */
  retry?: Partial<RetryPolicy>;
  /** Called with each {@link ManagerEvent}; see also {@link CertificateManager.subscribe}. */
  onEvent?: (event: ManagerEvent) => void;
  /** Structured logger; silent by default. */
  logger?: Logger;
  /**
   * Lease on one certificate's lock while it is obtained, renewed every third of it while work goes
   * on; a killed holder blocks others this long at most. Default 15 000 ms.
   */
  lockTtlMs?: number;
  /** How long to wait for another instance's lock. Default 180 000 ms. */
  lockWaitMs?: number;
  /**
   * How long what this process read from storage for serving — a certificate record, and which
   * certificates cover a name — is reused from memory. Default 60 000 ms. It bounds how stale this
   * process can be about other processes' changes: a certificate revoked, removed, issued or renewed
   * elsewhere is served (or no longer served) here at most `cacheTtlMs` after that change completed.
   * This process's own changes are seen at once. 0 reads storage on every lookup.
   */
  cacheTtlMs?: number;
  /** Clock (tests). Default `Date.now`. */
  now?: () => number;
  /** Timer for the lock heartbeat (tests with a controlled clock). Default: `setTimeout`. */
  sleep?: Sleep;
  /**
   * Monotonic clock (ms) the lease check before each CA request measures leases by — give it with
   * `sleep` when the lock timers run on a controlled clock (tests). Default: `performance.now`.
   */
  leaseClock?: () => number;
}

/** Result of {@link CertificateManager.renewDue}. */
export interface RenewDueResult {
  /** Certificates looked at. */
  checked: number;
  /** Ids of the certificates renewed. */
  renewed: string[];
  /** Ids that failed, with the error. */
  failed: Array<{ id: string; error: string }>;
}

/** `solvers` with the http-01 one wrapped in a self-check when asked. */
function selfChecked(solvers: Record<string, Solver>, selfCheck: boolean | Http01SelfCheckOptions | undefined): Record<string, Solver> {
  const http01 = solvers["http-01"];
  if (!selfCheck || !http01) return solvers;
  return { ...solvers, "http-01": withHttp01SelfCheck(http01, selfCheck === true ? {} : selfCheck) };
}

/** The DoH resolver CAA is checked through by default (RFC 8484 wire format). */
const DEFAULT_CAA_RESOLVER = "https://cloudflare-dns.com/dns-query";

/** An order intent whose lock is free this long after it was created is abandoned, and swept. */
const STALE_INTENT_MS = 3_600_000;

/** `name` as the name index keys it, or undefined when it is no host name or IP address. */
function servedName(name: string): string | undefined {
  try {
    return toIdentifier(name).value;
  } catch {
    return undefined;
  }
}

/**
 * Obtains, stores, serves and renews certificates, safely across instances that share one storage.
 * The rules live in one module each: {@link CertificateStore} (records move forward only, written by
 * compare-and-set under the lock's fence), `Issuance` (one order per name set under a lock with a
 * heartbeat, resumable intents), `NameIndex` (every certificate covering a name, a superset kept by
 * the order of writes) with `pickServedCertificate` (the one serving rule), `OnDemandGate` (bounds on handshake-driven orders) and `renewal-schedule` (timing and the
 * one failure state).
 */
export class CertificateManager {
  private readonly storage: Storage;
  private readonly issuers: IssuerOptions[];
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly http01: StorageHttp01Solver;
  private readonly lock: LockTiming;
  private readonly store: CertificateStore;
  private readonly due: DueSchedule;
  private readonly index: NameIndex;
  private readonly intents: OrderIntents;
  private readonly accounts: Accounts;
  private readonly issuance: Issuance;
  private readonly gate: OnDemandGate;
  private readonly budgets: CaBudgets;
  /** Certificates whose name index was checked complete by this process. */
  private readonly indexChecked = new Set<string>();
  private readonly listeners = new Set<(event: ManagerEvent) => void>();

  /** Checks the options (storage, CA URL, email, account key type) without contacting the CA. */
  constructor(private readonly options: CertificateManagerOptions) {
    if (!options?.storage) throw new EdgecertError("invalid_input", "storage is required");
    if (!options.directoryUrl) throw new EdgecertError("invalid_input", "directoryUrl is required");
    if (options.caLimits) checkCaLimits(options.caLimits);
    // Mistakes a CA would only report after a round trip (or reject with badPublicKey), said up front.
    checkEmail(options.email);
    checkAccountKeyAlgorithm(options.accountKeyType);
    const ttlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new EdgecertError("invalid_input", `lockTtlMs must be a positive number, got ${String(ttlMs)}`);
    this.storage = options.storage;
    const primary: IssuerOptions = { directoryUrl: options.directoryUrl };
    if (options.externalAccountBinding) primary.externalAccountBinding = options.externalAccountBinding;
    if (options.profile) primary.profile = options.profile;
    this.issuers = [primary, ...(options.issuers ?? [])];
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.http01 = new StorageHttp01Solver(this.storage);
    this.lock = { ttlMs, waitMs: options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, logger: this.logger, ...(options.sleep ? { sleep: options.sleep } : {}), ...(options.leaseClock ? { clock: options.leaseClock } : {}) };
    this.due = new DueSchedule(this.storage, this.logger);
    const cacheTtlMs = options.cacheTtlMs ?? 60_000;
    if (!(cacheTtlMs >= 0) || !Number.isFinite(cacheTtlMs)) throw new EdgecertError("invalid_input", `cacheTtlMs must be a number >= 0, got ${String(cacheTtlMs)}`);
    this.store = new CertificateStore(this.storage, cacheTtlMs, this.now, this.due);
    this.index = new NameIndex(this.storage, cacheTtlMs, this.now);
    this.intents = new OrderIntents(this.storage);
    this.accounts = new Accounts({
      storage: this.storage,
      email: options.email,
      accountKeyType: options.accountKeyType ?? "ES256",
      termsOfServiceAgreed: options.termsOfServiceAgreed === true,
      fetch: options.fetch,
      retry: options.retry,
      logger: this.logger,
      lock: this.lock,
      now: this.now,
      onCreated: (issuer) => this.emit({ type: "account_created", issuer }),
    });
    // One CAA cache for every CA of this manager: CAA records do not depend on who asks.
    const caaCache = options.caaCache instanceof CaaCache ? options.caaCache : options.caaCache === false ? undefined : new CaaCache({ now: this.now, ...options.caaCache });
    this.budgets = new CaBudgets({
      storage: this.storage,
      primary: options.directoryUrl,
      caLimits: options.caLimits,
      ...(options.budgetMaxWaitMs !== undefined ? { maxWaitMs: options.budgetMaxWaitMs } : {}),
      ...(options.budgetQueue ? { queue: options.budgetQueue } : {}),
      now: options.budgetClock?.now ?? this.now,
      ...(options.budgetClock ? { sleep: options.budgetClock.sleep } : {}),
      logger: this.logger,
      onQueued: (order, issuer) =>
        this.emit({
          type: "certificate_queued",
          id: order.id,
          names: [...order.names],
          issuer,
          position: order.position,
          queuedAs: order.kind,
          estimatedAt: new Date(order.estimatedAt),
          ...(order.blockedBy ? { blockedBy: { kind: order.blockedBy.kind, subject: order.blockedBy.subject, retryAt: new Date(order.blockedBy.retryAt) } } : {}),
        }),
    });
    this.issuance = new Issuance({
      storage: this.storage,
      budgets: this.budgets,
      caaCheck: (directoryUrl) => {
        if (options.caaCheck === false) return undefined;
        const cache = caaCache ? { cache: caaCache } : {};
        if (options.caaCheck) return { ...options.caaCheck, ...cache };
        return caLimitsFor(directoryUrl) ? { resolverUrl: DEFAULT_CAA_RESOLVER, ...cache } : undefined;
      },
      store: this.store,
      index: this.index,
      intents: this.intents,
      accounts: this.accounts,
      issuers: this.issuers,
      solvers: selfChecked(options.solvers ?? { "http-01": this.http01 }, options.http01SelfCheck),
      keyType: options.keyType ?? "ES256",
      preferredChallenges: options.preferredChallenges,
      profile: options.profile,
      renewBefore: options.renewBefore,
      lock: this.lock,
      now: this.now,
      logger: this.logger,
      emit: (event) => this.emit(event),
    });
    this.gate = new OnDemandGate(options.onDemand ?? {}, this.now);
  }

  // ------------------------------------------------------------------ public API

  /**
   * Ensures a valid certificate exists for exactly these names (one certificate per name set),
   * obtaining or renewing it when missing or due, and that every one of its names is served (the name
   * index is completed after a crash). Concurrent calls — in this process or in others sharing the
   * storage — produce one order. `profile` asks the CA for a certificate profile for this certificate
   * (draft-ietf-acme-profiles) from its next issuance on; renewals keep asking for it.
   */
  async manage(names: string[], options: { signal?: AbortSignal; profile?: string } = {}): Promise<ManagedCertificate> {
    const identifiers = toIdentifiers(names);
    const id = await certificateId(identifiers);
    const current = await this.store.get(id);
    if (current && !isDue(current.renewal, this.now())) {
      await this.completeIndex(current, options.signal);
      return toManaged(current);
    }
    return toManaged(await this.issuance.obtain(id, identifiers, { force: false, signal: options.signal, profile: options.profile }));
  }

  /**
   * The certificate to serve for `name` (SNI): of every stored certificate covering it — exactly, or
   * through the wildcard one label up (RFC 6125 §6.4.3) — the one {@link pickServedCertificate}
   * picks (valid, exact before wildcard, latest `notAfter`, smallest id), so every process gives the
   * same answer from the same store; read from memory for up to `cacheTtlMs`, then storage. A
   * certificate that is due but still valid is served while it renews in the background; when every
   * covering certificate expired, the best of them is renewed first. Obtained on demand only when the
   * host policy allows and the on-demand gate admits it.
   */
  async getCertificate(name: string): Promise<ManagedCertificate | undefined> {
    const value = servedName(name);
    if (value === undefined) return undefined;
    const now = this.now();
    const ranked = await this.rankedFor(value);
    const served = pickServedCertificate(value, ranked, now)?.record;
    if (served) {
      if (isDue(served.renewal, now)) {
        void this.issuance.obtain(served.id, served.identifiers, { force: false }).catch((err: unknown) =>
          this.logger.log("warn", "manager.background_renewal_failed", { id: served.id, error: String(err) }),
        );
      }
      return toManaged(served);
    }
    const expired = ranked[0]?.record;
    if (expired) return toManaged(await this.issuance.obtain(expired.id, expired.identifiers, { force: false }));
    if (!this.options.hostPolicy || !(await this.options.hostPolicy(value))) return undefined;
    const ticket = this.gate.admit(value);
    if (typeof ticket === "string") {
      this.logger.log("warn", "manager.on_demand_refused", { name: value, reason: ticket });
      return undefined;
    }
    const identifiers = [toIdentifier(value)];
    try {
      const record = await this.issuance.obtain(await certificateId(identifiers), identifiers, { force: false, dropIntentOnFailure: true });
      ticket.done(true);
      return toManaged(record);
    } catch (err) {
      ticket.done(false);
      throw err;
    }
  }

  /**
   * The certificate {@link getCertificate} would serve for `name` — {@link pickServedCertificate}
   * over every stored certificate covering it — without obtaining, renewing or asking the CA
   * anything. When every covering certificate expired, the one the same order ranks first (exact
   * before wildcard, latest `notAfter`, smallest id) rather than nothing. For callers that hand
   * certificates out while renewal is someone else's job (the Worker's pull API: its renewer owns
   * renewals and their webhook events). Same staleness bound as getCertificate (`cacheTtlMs`).
   */
  async lookup(name: string): Promise<ManagedCertificate | undefined> {
    const value = servedName(name);
    if (value === undefined) return undefined;
    const ranked = await this.rankedFor(value);
    const record = (pickServedCertificate(value, ranked, this.now()) ?? ranked[0])?.record;
    return record ? toManaged(record) : undefined;
  }

  /**
   * Every stored certificate covering `name` (exactly, or by the one-label wildcard), ranked by the
   * serving rule with expired ones included ({@link rankCovering}), without asking the CA anything.
   * For callers that choose within a subset by the same rule (the Worker's hub: a pattern-scoped
   * deploy token picks among the certificates its pattern covers with {@link pickServedCertificate}).
   */
  async covering(name: string): Promise<ManagedCertificate[]> {
    const value = servedName(name);
    if (value === undefined) return [];
    return (await this.rankedFor(value)).map((c) => toManaged(c.record));
  }

  /**
   * Renews every stored certificate that is due (or whose ARI window moved), then sweeps abandoned
   * intents and tokens. When the storage keeps a due index ({@link DueIndex}: Redis, PostgreSQL,
   * Deno KV), a pass reads only the certificates it lists as due — O(due), not O(all) — and re-reads
   * each before acting; the first pass on a store without the index marker lists every certificate
   * once to enter it. Without a due index, every pass lists every certificate.
   */
  async renewDue(options: { signal?: AbortSignal } = {}): Promise<RenewDueResult> {
    const result: RenewDueResult = { checked: 0, renewed: [], failed: [] };
    const look = async (record: CertificateRecord): Promise<void> => {
      result.checked++;
      try {
        if ((await this.maintainRecord(record, options.signal)).renewed) result.renewed.push(record.id);
      } catch (err) {
        result.failed.push({ id: record.id, error: err instanceof Error ? err.message : String(err) });
      }
    };
    if (await this.due.ready()) {
      await this.due.forEachDue(this.now(), async (entry) => {
        // The entry is a hint: the record decides. An entry earlier than its record (a crash between
        // the two writes) is moved to the record's time, one for a deleted record cleared.
        const record = (await this.store.read(entry.id))?.value;
        if (record && nextCheckAt(record.renewal) <= this.now()) return look(record);
        await this.repairDue(entry.id, options.signal).catch((err: unknown) => this.logger.log("warn", "manager.due_index_repair_failed", { id: entry.id, error: String(err) }));
      });
    } else {
      let entered = this.due.indexed;
      let cursor: string | undefined;
      do {
        const page = await this.storage.list(keys.certificatePrefix, cursor ? { cursor } : {});
        for (const key of page.keys) {
          const record = await this.store.get(key.slice(keys.certificatePrefix.length).replace(/\.json$/, ""));
          if (!record) continue;
          if (entered) entered = await this.due.enter(record).then(() => true, () => false);
          await look(record);
        }
        cursor = page.cursor;
      } while (cursor);
      if (entered) await this.due.markReady(this.now()).catch((err: unknown) => this.logger.log("warn", "manager.due_index_write_failed", { error: String(err) }));
    }
    await this.sweep(options.signal).catch((err: unknown) => this.logger.log("warn", "manager.sweep_failed", { error: String(err) }));
    return result;
  }

  /**
   * Maintenance of one certificate: refreshes its ARI window when the CA asked to be asked again, and
   * renews it if due; obtains it if missing. What a scheduler calls per certificate. On failure the
   * error carries the manager's failure state ({@link failureOf}).
   */
  async maintain(names: string[], options: { signal?: AbortSignal; profile?: string } = {}): Promise<{ certificate: ManagedCertificate; renewed: boolean }> {
    const identifiers = toIdentifiers(names);
    const id = await certificateId(identifiers);
    const record = (await this.store.read(id))?.value;
    if (!record) return { certificate: toManaged(await this.issuance.obtain(id, identifiers, { force: false, signal: options.signal, profile: options.profile })), renewed: true };
    const { record: current, renewed } = await this.maintainRecord(record, options.signal);
    return { certificate: toManaged(current), renewed };
  }

  /** A stored certificate for exactly these names, without contacting the CA. */
  async find(names: string[]): Promise<ManagedCertificate | undefined> {
    const record = (await this.store.read(await certificateId(toIdentifiers(names))))?.value;
    return record ? toManaged(record) : undefined;
  }

  /** Renews the certificate for these names now, whether or not it is due. */
  async renew(names: string[], options: { signal?: AbortSignal; profile?: string } = {}): Promise<ManagedCertificate> {
    const identifiers = toIdentifiers(names);
    const id = await certificateId(identifiers);
    return toManaged(await this.issuance.obtain(id, identifiers, { force: true, signal: options.signal, profile: options.profile }));
  }

  /** Every stored certificate (for listings), without re-reading from the CA. */
  async list(): Promise<ManagedCertificate[]> {
    const out: ManagedCertificate[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.storage.list(keys.certificatePrefix, cursor ? { cursor } : {});
      for (const key of page.keys) {
        const record = await this.store.get(key.slice(keys.certificatePrefix.length).replace(/\.json$/, ""));
        if (record) out.push(toManaged(record));
      }
      cursor = page.cursor;
    } while (cursor);
    return out;
  }

  /**
   * Revokes a certificate (RFC 8555 §7.6) and forgets it: the one for exactly the name set `names`,
   * or — given one name as a string — the one currently serving that name. Done under the
   * certificate's lock on what storage holds then (not on a cached copy).
   */
  async revoke(names: string | string[], reason?: RevocationReasonCode): Promise<void> {
    const target = await this.targetId(names);
    const revoked = target
      ? await underLock(this.storage, keys.certificateLock(target), this.lock, async (held) => {
          const read = await this.store.read(target);
          if (!read) return undefined;
          const record = read.value;
          const client = await this.accounts.client(this.issuers.find((i) => i.directoryUrl === record.directoryUrl) ?? { directoryUrl: record.directoryUrl });
          await client.revokeCertificate(record.chainPem, { signal: held.signal, guard: held.guard, ...(reason === undefined ? {} : { reason }) });
          await this.forget(read, held);
          return record;
        })
      : undefined;
    if (!revoked) throw new EdgecertError("invalid_input", `no certificate for ${String(names)}`);
    this.emit({ type: "certificate_revoked", id: revoked.id, names: revoked.identifiers.map((i) => i.value), issuer: revoked.directoryUrl });
  }

  /** Removes a certificate from storage without revoking it (name set, or the one serving a name). */
  async remove(names: string | string[]): Promise<boolean> {
    const target = await this.targetId(names);
    if (!target) return false;
    return underLock(this.storage, keys.certificateLock(target), this.lock, async (held) => {
      const read = await this.store.read(target);
      if (!read) return false;
      await this.forget(read, held);
      return true;
    });
  }

  /**
   * The CAA record (RFC 8659 + RFC 8657) that lets only the primary CA, with this manager's account and
   * challenge types, issue for `domain`: publish it to close the domain to other CAs and accounts. The
   * CA's identity comes from its directory (`meta.caaIdentities`) or the `caaCheck` option. Creates the
   * account if there is none yet. Throws `invalid_input` when the CA names no CAA identity.
   */
  async pinningCaaRecord(domain: string, options: { wildcard?: boolean; caaIdentities?: string[] } = {}): Promise<string> {
    const issuer = this.issuers[0]!;
    const client = await this.accounts.client(issuer);
    const directory = await client.directory();
    const configured = options.caaIdentities ?? (this.options.caaCheck ? this.options.caaCheck.caaIdentities : undefined);
    const caIdentities = configured ?? directory.meta?.caaIdentities ?? [];
    if (caIdentities.length === 0) throw new EdgecertError("invalid_input", `${issuer.directoryUrl} names no CAA identity (meta.caaIdentities, RFC 8555 §7.1.1): give it as caaCheck.caaIdentities`);
    const available = Object.keys(this.options.solvers ?? { "http-01": this.http01 });
    const validationMethods = this.options.preferredChallenges?.filter((c) => available.includes(c)) ?? available;
    return pinningCaaRecord(domain, { caIdentities, accountUri: client.accountUrl!, validationMethods, ...(options.wildcard ? { wildcard: true } : {}) });
  }

  /**
   * Orders of this process waiting for a CA's budget (see the `caLimits` option), in the order they
   * will go, each with its position and an estimated send time.
   */
  queued(): Array<QueuedOrder & { readonly directoryUrl: string }> {
    return this.budgets.queued();
  }

  /**
   * Orders waiting for the primary CA's budget in the whole fleet sharing this storage — queued by
   * any process, this one included — from the queue's records, each with its position and an
   * estimated send time (see `fleetQueue`). What `edgecert list` shows; reads storage only.
   */
  queuedInFleet(): Promise<{ orders: Array<QueuedOrder & { readonly directoryUrl: string }>; total: number }> {
    return this.budgets.fleetQueued(this.options.directoryUrl);
  }

  /** How many of this process's orders wait for a CA's budget now (`queued().length`, without building the list). */
  queuedCount(): number {
    return this.budgets.queuedCount();
  }

  /**
   * Calls `listener` with every event from now on (e.g. to reload a TLS server on
   * `certificate_renewed`); returns the function that unsubscribes it.
   */
  subscribe(listener: (event: ManagerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * dns-persist-01 (experimental, draft-ietf-acme-dns-persist): the `_validation-persist` TXT records to
   * create once so the primary CA can validate `names` without DNS credentials — named for this
   * manager's account there (created if needed) and an issuer domain name from the CA's `caaIdentities`.
   */
  async dnsPersistRecords(names: string[], options: { issuerDomainName?: string; signal?: AbortSignal } = {}): Promise<DnsPersistAccountRecords> {
    return dnsPersistRecordsForClient(await this.accounts.client(this.issuers[0]!), names, options);
  }

  /** The http-01 key authorization for `token` when the default solver is in use, else undefined. */
  httpChallengeResponse(token: string): Promise<string | undefined> {
    return this.http01.response(token);
  }

  // ------------------------------------------------------------------ internals

  /**
   * Every stored certificate covering `value` (the name index lists each one; ids whose record is
   * gone are skipped), ranked by the serving rule with expired ones included ({@link rankCovering}).
   * `fresh`: from storage, not memory.
   */
  private async rankedFor(value: string, fresh = false): Promise<Array<{ id: string; names: string[]; notAfter: Date; record: CertificateRecord }>> {
    const ids = fresh ? [...new Set((await Promise.all(lookupNames(value).map((n) => this.index.ids(n)))).flat())] : await this.index.covering(value);
    const records = await Promise.all(ids.map(async (id) => (fresh ? (await this.store.read(id))?.value : await this.store.get(id))));
    const candidates = records
      .filter((r): r is CertificateRecord => r !== undefined)
      .map((record) => ({ id: record.id, names: record.identifiers.map((i) => i.value), notAfter: new Date(record.notAfter), record }));
    return rankCovering(value, candidates);
  }

  /** The certificate id for exactly a name set (array), or the one serving a single name (string), as storage holds them now. */
  private async targetId(names: string | string[]): Promise<string | undefined> {
    if (typeof names !== "string") return certificateId(toIdentifiers(names));
    const value = toIdentifier(names).value;
    const ranked = await this.rankedFor(value, true);
    return (pickServedCertificate(value, ranked, this.now()) ?? ranked[0])?.id;
  }

  /** ARI refresh and renewal of one stored record when due. */
  private async maintainRecord(record: CertificateRecord, signal?: AbortSignal): Promise<{ record: CertificateRecord; renewed: boolean }> {
    const refreshed = await this.refreshAri(record, signal);
    if (!isDue(refreshed.renewal, this.now())) {
      await this.completeIndex(refreshed, signal);
      return { record: refreshed, renewed: false };
    }
    return { record: await this.issuance.obtain(record.id, record.identifiers, { force: false, signal }), renewed: true };
  }

  /**
   * Asks the CA again for the renewal window when it said to (Retry-After). Done under the
   * certificate's lock on the record storage holds then, so it can never write back an older
   * certificate; when another instance held the lock (renewing), its result is what is read.
   */
  private async refreshAri(record: CertificateRecord, signal?: AbortSignal): Promise<CertificateRecord> {
    if (record.renewal.ariCheckAt === undefined || record.renewal.ariCheckAt > this.now()) return record;
    try {
      return await underLock(this.storage, keys.certificateLock(record.id), { ...this.lock, signal }, async (held) => {
        const read = await this.store.read(record.id);
        if (!read) return record;
        const current = read.value;
        if (current.renewal.ariCheckAt === undefined || current.renewal.ariCheckAt > this.now()) return current;
        const client = await this.accounts.client(this.issuers.find((i) => i.directoryUrl === current.directoryUrl) ?? { directoryUrl: current.directoryUrl });
        const fresh = await renewalStateFor(client, parseCertificate(current.chainPem), {
          now: this.now(),
          renewBefore: this.options.renewBefore,
          signal: held.signal,
          logger: this.logger,
        });
        const updated: CertificateRecord = { ...current, renewal: mergeRenewal(current.renewal, fresh) };
        await this.store.write(updated, read, held.fence);
        return updated;
      });
    } catch (err) {
      this.logger.log("warn", "manager.ari_refresh_failed", { id: record.id, error: String(err) });
      return record;
    }
  }

  /**
   * Makes sure every name of a stored certificate is served and no intent of a finished order is left:
   * after a crash between the certificate write and the index (or the intent's removal), this is
   * what repairs it. Checked once per process and certificate; writes happen under the lock.
   */
  private async completeIndex(record: CertificateRecord, signal?: AbortSignal): Promise<void> {
    if (this.indexChecked.has(record.id)) return;
    const leftover = await this.intents.read(record.id);
    if (!leftover && (await this.index.includes(record))) {
      this.indexChecked.add(record.id);
      return;
    }
    await underLock(this.storage, keys.certificateLock(record.id), { ...this.lock, signal }, async (held) => {
      const read = await this.store.read(record.id);
      if (read) await this.issuance.complete(read.value, held);
    });
    this.indexChecked.add(record.id);
  }

  /** Under the certificate's lock (skipped while another instance holds it: it writes the entry itself), sets its due entry from the stored record. */
  private async repairDue(id: string, signal?: AbortSignal): Promise<void> {
    await ifUnlocked(this.storage, keys.certificateLock(id), { ...this.lock, signal }, async (held) => {
      await this.due.repair(id, (await this.store.read(id))?.value, held.fence);
    });
  }

  /**
   * Forgets a certificate: record, then its id in the name index (in this order, so the index stays a
   * superset of the stored certificates whatever step a crash stops at), then its intent — all fenced.
   */
  private async forget(read: NonNullable<Awaited<ReturnType<CertificateStore["read"]>>>, held: { fence: { name: string; token: number } }): Promise<void> {
    await this.store.delete(read, held.fence);
    await this.index.remove(read.value, held.fence);
    const intent = await this.intents.read(read.value.id);
    if (intent) await this.intents.drop(intent, held.fence);
    this.indexChecked.delete(read.value.id);
  }

  /**
   * Bounded cleanup of what killed runs left: intents older than an hour whose lock is free (with
   * their tokens), then http-01 tokens no intent lists. Tokens are listed before intents, and a run
   * records a token in its intent before publishing it, so a live order's token is never removed.
   */
  private async sweep(signal?: AbortSignal): Promise<void> {
    const tokens = (await this.storage.list(keys.httpTokenPrefix, { limit: 1000 })).keys;
    const listed = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await this.intents.ids(cursor);
      for (const id of page.ids) {
        const read = await this.intents.read(id);
        if (!read) continue;
        const age = this.now() - Date.parse(read.value.createdAt);
        if (!(age < STALE_INTENT_MS)) {
          const dropped = await ifUnlocked(this.storage, keys.certificateLock(id), { ...this.lock, signal }, async (held) => {
            const again = await this.intents.read(id);
            if (again && !(this.now() - Date.parse(again.value.createdAt) < STALE_INTENT_MS)) await this.intents.drop(again, held.fence);
          });
          if (dropped) continue;
        }
        for (const token of read.value.tokens ?? []) listed.add(token);
      }
      cursor = page.cursor;
    } while (cursor && ++pages < 10);
    if (cursor) return; // too many intents to be sure what is listed: leave tokens for the next sweep
    for (const key of tokens) {
      if (listed.has(key.slice(keys.httpTokenPrefix.length))) continue;
      // A compare-and-set delete: a token published again since it was listed stays.
      const entry = await this.storage.getEntry(key);
      if (entry) await this.storage.delete(key, { ifVersion: entry.version }).catch(() => undefined);
    }
  }

  /** Sends an event to `onEvent` and every subscriber. */
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

