import type { AcmeClient } from "../acme/client.ts";
import { sameIdentifiers } from "../acme/identifiers.ts";
import { obtainCertificate } from "../acme/obtain-certificate.ts";
import { OrderNotResumableError } from "../acme/issuance-error.ts";
import { ariCertificateId } from "../acme/renewal-info.ts";
import type { Solver } from "../acme/solver.ts";
import type { AcmeIdentifier } from "../acme/types.ts";
import { EdgecertError, isEdgecertError } from "../errors.ts";
import { checkCaa } from "../preflight/caa-check.ts";
import type { CaaCache } from "../preflight/caa-cache.ts";
import type { Logger } from "../logger.ts";
import type { Storage } from "../storage/storage.ts";
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, type KeyAlgorithmName } from "../webcrypto/keys.ts";
import { certificateMatchesKey, parseCertificate } from "../webcrypto/x509.ts";
import type { Accounts, IssuerOptions } from "./accounts.ts";
import { renewalStateFor } from "./ari.ts";
import type { Admission, CaBudgets } from "./ca-budgets.ts";
import type { CertificateStore } from "./certificate-store.ts";
import type { ManagerEvent } from "./events.ts";
import { underLock, type HeldLock, type LockTiming } from "./lock-runner.ts";
import { attachFailure } from "./managed-certificate.ts";
import type { NameIndex } from "./name-index.ts";
import type { OrderIntents } from "./order-intents.ts";
import { OrderSpends } from "./order-spends.ts";
import { renewsSameNames } from "./renewal-exemption.ts";
import type { CertificateRecord, PendingOrderRecord, RenewalFailure } from "./records.ts";
import { failureAfter, isDue, type RenewBefore } from "./renewal-schedule.ts";
import { StorageHttp01Solver } from "./storage-http01-solver.ts";
import { keys } from "./storage-keys.ts";
import type { Versioned } from "./stored-json.ts";

/** What issuance needs from the manager. */
export interface IssuanceContext {
  storage: Storage;
  store: CertificateStore;
  index: NameIndex;
  intents: OrderIntents;
  accounts: Accounts;
  /** The CAs' fleet-wide budgets: every new order waits for its CA's. */
  budgets: CaBudgets;
  /** How to check CAA before ordering from a CA, or undefined for no check. */
  caaCheck: (directoryUrl: string) => { resolverUrl: string; caaIdentities?: string[]; fetch?: typeof fetch; cache?: CaaCache } | undefined;
  issuers: IssuerOptions[];
  solvers: Record<string, Solver>;
  keyType: KeyAlgorithmName;
  preferredChallenges: string[] | undefined;
  profile: string | undefined;
  renewBefore: RenewBefore | undefined;
  lock: LockTiming;
  now: () => number;
  logger: Logger;
  emit: (event: ManagerEvent) => void;
}

/** How to obtain. */
export interface ObtainHow {
  /** Renew even if not due (but not again if another instance renewed since the call). */
  force: boolean;
  signal?: AbortSignal | undefined;
  /**
   * The certificate profile to ask for (draft-ietf-acme-profiles), kept in the record so renewals ask
   * for it again. Default: the one the certificate was issued with, else the issuer's or manager's.
   */
  profile?: string | undefined;
  /** Drop the order intent (and its key) whatever the failure (on-demand attempts). */
  dropIntentOnFailure?: boolean;
}

/** Failures after which the order may still complete: keep its intent so a rerun resumes it. */
const TRANSIENT = new Set(["aborted", "lease_lost", "network", "timeout", "storage"]);

/**
 * Issuance under a certificate's lock: one order per name set across processes, storage re-read
 * after acquiring the lock, an order intent recorded before newOrder and resumed after a crash —
 * unless the CA forgot it, it expired, went invalid or was already used — and every write (intent,
 * tokens, name index, certificate, failure state) fenced by the lock, whose loss also aborts the CA
 * calls.
 */
export class Issuance {
  readonly #inflight = new Map<string, Promise<CertificateRecord>>();
  /** Failure state of name sets that have no certificate yet (this process). */
  readonly #firstFailures = new Map<string, RenewalFailure>();

  constructor(private readonly ctx: IssuanceContext) {}

  /** The failure state of a name set with no certificate yet, if its last attempt here failed. */
  firstFailure(id: string): RenewalFailure | undefined {
    return this.#firstFailures.get(id);
  }

  /** Obtains or renews certificate `id` (one operation per certificate per process at a time). */
  obtain(id: string, identifiers: AcmeIdentifier[], how: ObtainHow): Promise<CertificateRecord> {
    const running = this.#inflight.get(id);
    if (running) return running;
    const work = this.#locked(id, identifiers, how.force ? this.ctx.now() : undefined, how).finally(() => this.#inflight.delete(id));
    this.#inflight.set(id, work);
    return work;
  }

  async #locked(id: string, identifiers: AcmeIdentifier[], forcedSince: number | undefined, how: ObtainHow): Promise<CertificateRecord> {
    const { ctx } = this;
    // Wait for the CA's budget before taking the lock: a queued order holds no lease (and makes no
    // other process wait on one) for as long as the budget is spent.
    let admission = await this.#admitEarly(id, identifiers, forcedSince, how);
    // Not locked (busy past the caller's wait, aborted, storage down): the admission's order is never sent.
    const notLocked = async (err: unknown): Promise<never> => {
      await ctx.budgets.giveBack(admission);
      admission = undefined;
      throw err;
    };
    return underLock(ctx.storage, keys.certificateLock(id), { ...ctx.lock, signal: how.signal }, async (held) => {
      // Re-read under the lock: another instance may have done the work while we waited.
      const existing = await ctx.store.read(id);
      if (existing) {
        // Forced: renewed by another instance after this call began. issuedAt counts whole milliseconds,
        // so one stored in the very millisecond the call began may predate it: that one is renewed.
        const freshEnough =
          forcedSince !== undefined ? Date.parse(existing.value.issuedAt) > forcedSince : !isDue(existing.value.renewal, ctx.now());
        if (freshEnough) {
          await ctx.budgets.giveBack(admission);
          admission = undefined;
          // The holder that wrote it may have died before the index: complete it (idempotent).
          await this.complete(existing.value, held);
          return existing.value;
        }
      }
      const names = identifiers.map((i) => i.value);
      ctx.emit({ type: "certificate_obtaining", id, names });
      let lastError: unknown;
      for (const issuer of ctx.issuers) {
        try {
          // Handed to #from, which clears it once its order's spends own it: until then a failure
          // (the account, the intent's write, a resumed order's read) gives it back below.
          const handed = { admission: admission?.directoryUrl === issuer.directoryUrl ? admission : undefined };
          admission = undefined;
          const record = await this.#from(issuer, id, identifiers, existing, held, true, how.profile ?? existing?.value.profile, handed).catch(async (err: unknown) => {
            await ctx.budgets.giveBack(handed.admission);
            throw err;
          });
          this.#firstFailures.delete(id);
          ctx.emit({
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
          ctx.logger.log("warn", "manager.issuer_failed", { id, issuer: issuer.directoryUrl, error: String(err) });
          if (held.signal.aborted || (err instanceof EdgecertError && ["invalid_input", "invalid_identifier", "lease_lost", "conflict"].includes(err.code))) break;
        }
      }
      await ctx.budgets.giveBack(admission);
      const failure = await this.#recordFailure(id, existing, lastError, held);
      const code = lastError instanceof EdgecertError ? lastError.code : undefined;
      if (!held.signal.aborted && (how.dropIntentOnFailure || code === undefined || !TRANSIENT.has(code))) {
        // Nothing to resume: do not leave a key-bearing intent (or its tokens) behind.
        await this.#dropIntent(id, held).catch((err: unknown) => ctx.logger.log("warn", "manager.intent_cleanup_failed", { id, error: String(err) }));
      }
      attachFailure(lastError, failure);
      ctx.emit({ type: "certificate_failed", id, names, error: lastError, nextAttemptAt: new Date(failure.nextAttemptAt) });
      throw lastError;
    }).catch(notLocked);
  }

  async #from(
    issuer: IssuerOptions,
    id: string,
    identifiers: AcmeIdentifier[],
    existing: Versioned<CertificateRecord> | undefined,
    held: HeldLock,
    mayResume: boolean,
    wantedProfile: string | undefined,
    admitted?: { admission: Admission | undefined },
  ): Promise<CertificateRecord> {
    const { ctx } = this;
    const { fence, signal } = held;
    const client = await ctx.accounts.client(issuer, signal);
    const accountUrl = client.accountUrl!;
    const picked = await this.#pickUpIntent(client, issuer, accountUrl, id, identifiers, existing?.value, held, mayResume);
    // An order admitted for another account (the account was replaced meanwhile) is admitted again.
    const handed = admitted?.admission;
    let admission = handed?.request.account === accountUrl ? handed : undefined;
    if (handed && !admission) {
      if (admitted) admitted.admission = undefined;
      await ctx.budgets.giveBack(handed);
    }
    let keyPair: CryptoKeyPair;
    let intent: Versioned<PendingOrderRecord>;
    if (picked) {
      intent = picked;
      keyPair = await importPrivateKeyPem(picked.value.keyPem);
    } else {
      keyPair = await generateKeyPair(ctx.keyType);
      const record: PendingOrderRecord = {
        id,
        identifiers,
        directoryUrl: issuer.directoryUrl,
        accountUrl,
        keyPem: await exportPrivateKeyPem(keyPair.privateKey),
        createdAt: new Date(ctx.now()).toISOString(),
      };
      intent = await ctx.intents.save(record, undefined, fence);
    }
    const resumeOrderUrl = intent.value.orderUrl;
    // Intent updates (order URL, tokens) may come from concurrent solver calls: one at a time.
    let queue: Promise<unknown> = Promise.resolve();
    const update = (change: (current: PendingOrderRecord) => PendingOrderRecord | undefined): Promise<void> => {
      const run = queue.then(async () => {
        const next = change(intent.value);
        if (next) intent = await ctx.intents.save(next, intent, fence);
      });
      queue = run.catch(() => undefined);
      return run;
    };

    const directory = await client.directory({ signal });
    // RFC 9773 §5: `replaces` names a certificate of this CA; another CA does not know it.
    const previous = existing?.value;
    const replaces = previous?.ariId && previous.directoryUrl === issuer.directoryUrl && directory.renewalInfo ? previous.ariId : undefined;
    const profile = wantedProfile ?? issuer.profile ?? ctx.profile;
    const budgetRequest = this.#budgetRequest(id, identifiers, accountUrl, existing?.value, replaces !== undefined, issuer.directoryUrl);
    // From here this call gives the admission back if its order is never sent (the spends below, or now).
    if (admitted) admitted.admission = undefined;
    if (resumeOrderUrl) {
      // No new order: the recorded one is resumed.
      await ctx.budgets.giveBack(admission);
      admission = undefined;
    } else if (!admission) {
      await this.#preflight(issuer, client, identifiers, signal);
      admission = await ctx.budgets.admit(issuer.directoryUrl, budgetRequest, signal);
    }
    let obtained: Awaited<ReturnType<typeof obtainCertificate>>;
    // Every newOrder spends the budget, and the spends count from when their requests go (the order
    // may have waited for its lock).
    const spends = new OrderSpends(ctx.budgets, issuer.directoryUrl, budgetRequest, admission, ctx.now, signal);
    try {
      obtained = await obtainCertificate({
        beforeNewOrder: (order) => spends.beforeNewOrder(order),
        beforeFinalize: () => spends.beforeFinalize(),
        // The budget decides when a refused order goes again (after pausing its bucket below), not a
        // resend inside this call that would take a token the budget gave to another order.
        ...(ctx.budgets.for(issuer.directoryUrl) ? { resendRateLimited: false } : {}),
        client,
        names: identifiers,
        solvers: this.#fencedSolvers(held, (token) =>
          update((i) => (i.tokens?.includes(token) ? undefined : { ...i, tokens: [...(i.tokens ?? []), token] })),
        ),
        certificateKey: keyPair,
        signal,
        guard: held.guard,
        logger: ctx.logger,
        ...(ctx.preferredChallenges ? { preferredChallenges: ctx.preferredChallenges } : {}),
        ...(resumeOrderUrl ? { resumeOrderUrl } : {}),
        ...(replaces ? { replaces } : {}),
        ...(profile ? { profile } : {}),
        onOrder: async (order) => {
          await spends.ordered();
          await update((i) => (i.orderUrl === order.url ? undefined : { ...i, orderUrl: order.url }));
        },
      });
      await spends.issued();
    } catch (err) {
      await spends.failed();
      // A rate-limit refusal pauses its bucket for the whole fleet (invariant 10).
      await ctx.budgets.refused(issuer.directoryUrl, budgetRequest, err);
      // The CA forgot the recorded order, it expired, went invalid or is for other names: drop it
      // (with its key and tokens) and order anew, once.
      if (!(err instanceof OrderNotResumableError) || !mayResume) throw err;
      await queue.catch(() => undefined);
      ctx.logger.log("warn", "manager.recorded_order_dropped", { id, order: err.orderUrl, reason: err.reason });
      await ctx.intents.drop(intent, fence);
      return this.#from(issuer, id, identifiers, existing, held, false, wantedProfile);
    }
    await queue;

    const leaf = parseCertificate(obtained.certificatePem);
    // Never store a certificate with a key it was not issued for: a resumed order that was already
    // used for another key (its certificate is that one) is dropped and ordered anew.
    if (!(await certificateMatchesKey(leaf, keyPair))) {
      await ctx.intents.drop(intent, fence);
      if (resumeOrderUrl && mayResume) {
        ctx.logger.log("warn", "manager.resumed_order_used", { id, order: resumeOrderUrl });
        return this.#from(issuer, id, identifiers, existing, held, false, wantedProfile);
      }
      throw new EdgecertError("bad_response", `the certificate for ${identifiers.map((i) => i.value).join(", ")} does not match its key`);
    }
    const record: CertificateRecord = {
      id,
      identifiers,
      directoryUrl: issuer.directoryUrl,
      chainPem: obtained.chainPem,
      keyPem: intent.value.keyPem,
      serialNumber: leaf.serialNumber,
      issuer: leaf.issuer,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      orderUrl: obtained.orderUrl,
      issuedAt: new Date(ctx.now()).toISOString(),
      renewal: await renewalStateFor(client, leaf, { now: ctx.now(), renewBefore: ctx.renewBefore, signal, logger: ctx.logger }),
    };
    if (leaf.authorityKeyIdentifierBytes) record.ariId = ariCertificateId(leaf);
    if (wantedProfile !== undefined) record.profile = wantedProfile;
    // The names first (a no-op on renewal: they list this id already), then the certificate (one put:
    // chain, key and metadata), then the intent. So a stored certificate is always in the index.
    await ctx.index.add(record, fence);
    await ctx.store.write(record, existing, fence);
    await ctx.intents.drop(intent, fence);
    return record;
  }

  /**
   * Checks the names' CAA records for this CA and account (RFC 8659, RFC 8657) when configured; throws
   * `caa_forbidden`. A failed lookup is logged and does not hold the order back: the CA checks too.
   */
  async #preflight(issuer: IssuerOptions, client: AcmeClient, identifiers: AcmeIdentifier[], signal: AbortSignal | undefined): Promise<void> {
    const { ctx } = this;
    const config = ctx.caaCheck(issuer.directoryUrl);
    if (!config) return;
    try {
      const directory = await client.directory({ signal });
      const caIdentities = config.caaIdentities ?? directory.meta?.caaIdentities ?? [];
      if (caIdentities.length === 0) return;
      const available = Object.keys(ctx.solvers);
      const validationMethods = ctx.preferredChallenges?.filter((c) => available.includes(c)) ?? available;
      await checkCaa(
        identifiers.filter((i) => i.type === "dns").map((i) => i.value),
        { caIdentities, accountUri: client.accountUrl!, validationMethods },
        { resolverUrl: config.resolverUrl, ...(config.fetch ? { fetch: config.fetch } : {}), ...(config.cache ? { cache: config.cache } : {}), ...(signal ? { signal } : {}) },
      );
    } catch (err) {
      if (isEdgecertError(err, "caa_forbidden") || signal?.aborted) throw err;
      ctx.logger.log("warn", "manager.caa_check_failed", { error: String(err) });
    }
  }

  /** What the budget is asked for an order of certificate `id`. */
  #budgetRequest(id: string, identifiers: AcmeIdentifier[], account: string, existing: CertificateRecord | undefined, replaces: boolean, directoryUrl: string) {
    return {
      id,
      account,
      names: identifiers.map((i) => i.value),
      nameSetId: id,
      replaces,
      renewal: renewsSameNames(existing, identifiers, directoryUrl, this.ctx.now()),
      ...(existing ? { expiresAt: Date.parse(existing.notAfter) } : {}),
    };
  }

  /**
   * The primary CA's budget, waited for before the lock when the order is likely needed (no fresh
   * certificate). Undefined when that CA has no budget, or when asking failed (the order is then
   * admitted under the lock, where a failure is recorded as usual).
   */
  async #admitEarly(id: string, identifiers: AcmeIdentifier[], forcedSince: number | undefined, how: ObtainHow): Promise<Admission | undefined> {
    const { ctx } = this;
    const issuer = ctx.issuers[0];
    if (!issuer || !ctx.budgets.for(issuer.directoryUrl)) return undefined;
    let request;
    try {
      const existing = (await ctx.store.read(id))?.value;
      if (existing && forcedSince === undefined && !isDue(existing.renewal, ctx.now())) return undefined;
      const client = await ctx.accounts.client(issuer, how.signal);
      const directory = await client.directory({ signal: how.signal });
      const replaces = Boolean(existing?.ariId && existing.directoryUrl === issuer.directoryUrl && directory.renewalInfo);
      request = this.#budgetRequest(id, identifiers, client.accountUrl!, existing, replaces, issuer.directoryUrl);
      // Before spending: a refusal is met again under the lock, where its failure is recorded.
      await this.#preflight(issuer, client, identifiers, how.signal);
    } catch (err) {
      ctx.logger.log("warn", "manager.budget_precheck_failed", { id, error: String(err) });
      return undefined;
    }
    try {
      return await ctx.budgets.admit(issuer.directoryUrl, request, how.signal);
    } catch (err) {
      // A budget spent for longer than the caller waits is met again under the lock, where it is recorded.
      if (isEdgecertError(err, "budget_spent")) return undefined;
      throw err;
    }
  }

  /**
   * The intent a rerun can continue, or undefined (a new order). Dropped, with the tokens it published:
   * an intent for another CA, account or name set, and one whose order became the stored certificate.
   * (One the CA forgot, let expire or invalidated is dropped when resuming it fails.) A continued
   * intent keeps its tokens published: the CA may still be validating what the earlier run answered
   * (RFC 8555 §8.3 — the resource must stay provisioned until validation ends), and a token removed
   * now would fail that authorization, turn the order invalid and cost a second order.
   */
  async #pickUpIntent(
    client: AcmeClient,
    issuer: IssuerOptions,
    accountUrl: string,
    id: string,
    identifiers: AcmeIdentifier[],
    existing: CertificateRecord | undefined,
    held: HeldLock,
    mayResume: boolean,
  ): Promise<Versioned<PendingOrderRecord> | undefined> {
    const { intents } = this.ctx;
    let read = await intents.read(id);
    if (!read) return undefined;
    const intent = read.value;
    const usable =
      mayResume &&
      intent.directoryUrl === issuer.directoryUrl &&
      intent.accountUrl === accountUrl &&
      sameIdentifiers(intent.identifiers, identifiers) &&
      !(intent.orderUrl !== undefined && intent.orderUrl === existing?.orderUrl);
    if (!usable) {
      await intents.drop(read, held.fence);
      return undefined;
    }
    if (intent.orderUrl === undefined) {
      // The newOrder may have reached the CA before the crash: look for it before ordering again.
      const lost = await this.#findLostOrder(client, identifiers, existing?.orderUrl, held.signal);
      if (lost) read = await intents.save({ ...intent, orderUrl: lost }, read, held.fence);
    }
    return read;
  }

  /**
   * Under the certificate's lock, with `record` the stored, not-due certificate: adds it to every name
   * entry that does not list it (only a store written before issue 23 lacks one), and drops an intent
   * left by a run that died after its certificate was written (no order runs while we hold the lock).
   * Kept: an intent begun after the certificate while it was due — a renewal that failed and waits
   * out its backoff, which is also "not due" — whose order is still open at the CA: the next attempt,
   * at the end of the backoff, resumes it instead of leaving it open and ordering again.
   * Returns how many index entries it wrote.
   */
  async complete(record: CertificateRecord, held: HeldLock): Promise<number> {
    const { ctx } = this;
    const written = await ctx.index.add(record, held.fence);
    if (written > 0) ctx.logger.log("warn", "manager.index_completed", { id: record.id, names: written });
    const intent = await ctx.intents.read(record.id);
    const now = ctx.now();
    const awaitingRetry = now >= record.renewal.renewAt && !supersededBy(intent?.value, record);
    if (intent && !isDue(record.renewal, now) && !awaitingRetry) await ctx.intents.drop(intent, held.fence);
    return written;
  }

  /**
   * An order of ours for these names that is still pending or ready and not expired. A `valid` or
   * `processing` one was finalized — which only happens after its URL was recorded — so it belongs
   * to a certificate we already have (or had): never picked up.
   */
  async #findLostOrder(client: AcmeClient, identifiers: AcmeIdentifier[], usedOrderUrl: string | undefined, signal: AbortSignal): Promise<string | undefined> {
    try {
      const found = await client.findOrder(identifiers, { signal, now: this.ctx.now(), ...(usedOrderUrl ? { exclude: [usedOrderUrl] } : {}) });
      if (found) {
        this.ctx.logger.log("info", "manager.resumed_lost_order", { url: found.url });
        return found.url;
      }
    } catch (err) {
      if (signal.aborted) throw err;
      this.ctx.logger.log("warn", "manager.order_lookup_failed", { error: String(err) });
    }
    return undefined;
  }

  /** The solvers for one order: the storage http-01 solver fenced by the lock, recording each token first. */
  #fencedSolvers(held: HeldLock, record: (token: string) => Promise<void>): Record<string, Solver> {
    const out: Record<string, Solver> = {};
    for (const [type, solver] of Object.entries(this.ctx.solvers)) {
      out[type] = solver instanceof StorageHttp01Solver && solver.uses(this.ctx.storage) ? solver.fenced(held.fence, record) : solver;
    }
    return out;
  }

  async #dropIntent(id: string, held: HeldLock): Promise<void> {
    const read = await this.ctx.intents.read(id);
    if (read) await this.ctx.intents.drop(read, held.fence);
  }

  /** Records a failed attempt: in the certificate record (fenced) when there is one, else in memory. */
  async #recordFailure(id: string, existing: Versioned<CertificateRecord> | undefined, error: unknown, held: HeldLock): Promise<RenewalFailure> {
    const { ctx } = this;
    const now = ctx.now();
    if (!existing) {
      const failure = failureAfter(this.#firstFailures.get(id)?.failures ?? 0, error, now, undefined);
      this.#firstFailures.set(id, failure);
      return failure;
    }
    const record = existing.value;
    const failure = failureAfter(record.renewal.failures, error, now, Date.parse(record.notAfter));
    // A forced renewal of a certificate not due, held back by the CA budget (nothing sent): the
    // certificate is as sound as before — recorded, it showed failing until its next renewal.
    if (isEdgecertError(error, "budget_spent") && !isDue(record.renewal, now)) return failure;
    const updated: CertificateRecord = { ...record, renewal: { ...record.renewal, ...failure } };
    try {
      await ctx.store.write(updated, existing, held.fence);
    } catch (err) {
      ctx.logger.log("error", "manager.record_failure_failed", { id, error: String(err) });
    }
    return failure;
  }
}

/**
 * Whether `intent` is spent by `record`: its order became that certificate, or it was begun no later
 * than the certificate was issued (a run that wrote its certificate and died before dropping it).
 */
function supersededBy(intent: PendingOrderRecord | undefined, record: CertificateRecord): boolean {
  if (intent === undefined) return true;
  if (intent.orderUrl !== undefined && intent.orderUrl === record.orderUrl) return true;
  return !(Date.parse(intent.createdAt) > Date.parse(record.issuedAt));
}
