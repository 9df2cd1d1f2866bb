import { DurableObject } from "cloudflare:workers";
import { EdgecertError } from "../src/errors.ts";
import { BudgetSpentError } from "../src/budget/fair-queue.ts";
import { failureOf as managerFailureOf, type ManagedCertificate } from "../src/manager/managed-certificate.ts";
import { nextAttemptAfterFailure } from "../src/manager/renewal-schedule.ts";
import type { RevocationReasonCode } from "../src/acme/types.ts";
import type { Env } from "./env.ts";
import { buildManager } from "./manager-factory.ts";
import { budgetQueue } from "./ca-budget-queue.ts";
import { failureOf, type Failure } from "./outcome.ts";
import { queuePlace } from "./queue-estimates.ts";
import { renewalIndex, type IndexEntry } from "./renewal-index.ts";
import { certificateEvent, expiringWindowMs, publishEvent, type CertificateEventData, type EventType } from "./hub/webhook-events.ts";

/** What one run did. */
export interface RenewerResult {
  id: string;
  outcome: "issued" | "renewed" | "unchanged" | "failed" | "gone";
  dueAt: number;
  error?: string;
  /** Set when `outcome` is `failed`. */
  failure?: Failure;
}

/** What a revoke or delete did. */
export type RemovalResult = { ok: true } | { ok: false; failure: Failure };

/**
 * The CA budget's bucket that held `err`'s order back (src/budget: BudgetSpentError, nothing was
 * sent), as IndexEntry.queuedFor shows it; undefined for any other failure.
 */
function queuedFor(err: unknown): string | undefined {
  if (!(err instanceof BudgetSpentError)) return undefined;
  return `${err.blockedBy.kind} ${err.blockedBy.subject}`.slice(0, 300);
}

/** The index entry for a certificate as the manager holds it: its failure state is the manager's. */
function entryFor(entry: IndexEntry, certificate: ManagedCertificate, now: number, waitingFor?: string): IndexEntry {
  const { lastError: _l, nextAttemptAt: _n, queuedFor: _q, ...rest } = entry;
  const failure = certificate.failure;
  return {
    ...rest,
    dueAt: certificate.nextCheckAt.getTime(),
    status: failure ? "failing" : "valid",
    notAfter: certificate.notAfter.getTime(),
    issuer: certificate.issuer,
    failures: failure?.failures ?? 0,
    ...(failure ? { lastError: failure.lastError.slice(0, 500), nextAttemptAt: failure.nextAttemptAt.getTime() } : {}),
    ...(failure && waitingFor ? { queuedFor: waitingFor } : {}),
    updatedAt: now,
  };
}

/** What a certificate event says about the certificate. */
function eventData(id: string, names: string[], certificate: ManagedCertificate | undefined): CertificateEventData {
  return {
    id,
    names: certificate?.names ?? names,
    serialNumber: certificate?.serialNumber ?? null,
    notAfter: certificate?.notAfter.toISOString() ?? null,
    ...(certificate ? { issuer: certificate.issuer, notBefore: certificate.notBefore.toISOString(), nextRenewalAt: certificate.renewAt.toISOString() } : {}),
  };
}

/**
 * Runs the ACME work for one certificate in a Durable Object invocation of its own, so a tick that
 * dispatches many renewals spreads their subrequests and CPU over many invocations. Operations on one
 * certificate (cron maintain, admin renew, revoke, delete) run one after the other here, and each
 * writes the index from what the manager stored under the certificate's lock — never from the copy the
 * caller read — so none can put back an older state.
 */
export class CertificateRenewer extends DurableObject<Env> {
  #queue: Promise<unknown> = Promise.resolve();

  /** Runs `op` after every operation queued before it (a Durable Object interleaves awaits otherwise). */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #index() {
    return renewalIndex(this.env);
  }

  /**
   * Issues, renews or checks the certificate `entry` describes, at time `at` (the tick's time), and
   * records the next due time in the index. `force` (the admin API) renews regardless.
   */
  run(entry: IndexEntry, at: number, force = false): Promise<RenewerResult> {
    return this.#serial(() => this.#run(entry, at, force));
  }

  async #run(claimed: IndexEntry, at: number, force: boolean): Promise<RenewerResult> {
    const skew = at - Date.now();
    const now = () => Date.now() + skew;
    const index = this.#index();
    // The index as it is now: an entry deleted meanwhile is not brought back.
    const entry = await index.get(claimed.id);
    if (!entry) return { id: claimed.id, outcome: "gone", dueAt: at };
    let existing: ManagedCertificate | undefined;
    try {
      const manager = await buildManager(this.env, { now, ...(entry.challenge ? { challenge: entry.challenge } : {}) });
      try {
        existing = await manager.find(entry.names);
        const how = entry.profile ? { profile: entry.profile } : {};
        const certificate = force ? await manager.renew(entry.names, how) : (await manager.maintain(entry.names, how)).certificate;
        const outcome: RenewerResult["outcome"] = !existing ? "issued" : certificate.serialNumber !== existing.serialNumber ? "renewed" : "unchanged";
        const updated = entryFor(entry, certificate, now());
        await index.upsert(updated);
        if (outcome === "issued") this.#emit("certificate.obtained", now(), eventData(entry.id, entry.names, certificate));
        if (outcome === "renewed") this.#emit("certificate.renewed", now(), { ...eventData(entry.id, entry.names, certificate), previousSerialNumber: existing!.serialNumber });
        await this.#expiring(entry, certificate, now());
        return { id: entry.id, outcome, dueAt: updated.dueAt };
      } catch (err) {
        // The manager recorded the failure on the certificate (backoff, the CA's Retry-After): show that.
        const stored = await manager.find(entry.names).catch(() => undefined);
        if (stored) {
          const updated = entryFor(entry, stored, now(), queuedFor(err));
          await index.upsert(updated);
          await this.#emitFailedOrQueued(entry, stored, updated, failureOf(err).message, now());
          await this.#expiring(entry, stored, now());
          return { id: entry.id, outcome: "failed", dueAt: updated.dueAt, error: failureOf(err).message, failure: failureOf(err) };
        }
        throw err;
      }
    } catch (err) {
      const failure = failureOf(err);
      // A wrong variable or key is the operator's to fix, not this certificate's failure: its entry stays.
      if (failure.code !== "ca_error" && failure.code !== "budget_spent") return { id: entry.id, outcome: "failed", dueAt: entry.dueAt, error: failure.message, failure };
      // Nothing stored yet: the index keeps the count, the manager's error the wait.
      const { lastError: _l, nextAttemptAt: _n, queuedFor: _q, ...rest } = entry;
      const waitingFor = queuedFor(err);
      const managers = managerFailureOf(err)?.nextAttemptAt.getTime() ?? 0;
      // Held back by the CA budget, nothing sent: back when the budget refills (the manager's wait),
      // without a backoff or a growing count — waiting in the queue is not failing.
      const failures = waitingFor ? Math.max(1, entry.failures) : entry.failures + 1;
      const dueAt = err instanceof BudgetSpentError ? Math.max(managers, err.blockedBy.retryAt) : Math.max(managers, nextAttemptAfterFailure(failures, now(), entry.notAfter));
      const failed: IndexEntry = { ...rest, dueAt, nextAttemptAt: dueAt, status: existing ? "failing" : "failed", failures, lastError: failure.message, ...(waitingFor ? { queuedFor: waitingFor } : {}), updatedAt: now() };
      await index.upsert(failed);
      await this.#emitFailedOrQueued(entry, existing, failed, failure.message, now());
      return { id: entry.id, outcome: "failed", dueAt, error: failure.message, failure };
    }
  }

  /**
   * Queues a webhook event; the renewal does not wait for it. Delivery happens in the outbox's own
   * alarm, so a failing endpoint costs nothing here.
   */
  #emit(type: EventType, at: number, data: CertificateEventData): void {
    this.ctx.waitUntil(publishEvent(this.env, certificateEvent(type, at, data)));
  }

  /**
   * `certificate.queued` when the CA budget holds the order back (nothing was sent: a wait, not a
   * failed attempt), with its place as GET /admin/queue shows it; else `certificate.failed`.
   */
  async #emitFailedOrQueued(entry: IndexEntry, stored: ManagedCertificate | undefined, updated: IndexEntry, error: string, at: number): Promise<void> {
    if (updated.queuedFor === undefined) return this.#emitFailed(entry, stored, updated, error, at);
    // Read after the index recorded the wait, so the place is the one the admin API shows now.
    const place = await this.#index().queuePosition(entry.id).catch(() => undefined);
    this.#emit("certificate.queued", at, {
      ...eventData(entry.id, entry.names, stored),
      blockedBy: updated.queuedFor,
      ...(place ? queuePlace(place) : { position: null, estimatedAt: new Date(updated.dueAt).toISOString() }),
      detail: error,
    });
  }

  #emitFailed(entry: IndexEntry, stored: ManagedCertificate | undefined, updated: IndexEntry, error: string, at: number): void {
    this.#emit("certificate.failed", at, {
      ...eventData(entry.id, entry.names, stored),
      error,
      failures: updated.failures,
      nextAttemptAt: updated.nextAttemptAt !== undefined ? new Date(updated.nextAttemptAt).toISOString() : null,
    });
  }

  /** `certificate.expiring`, once per certificate serial, when it is that close to expiry and still not renewed. */
  async #expiring(entry: IndexEntry, certificate: ManagedCertificate, at: number): Promise<void> {
    const left = certificate.notAfter.getTime() - at;
    if (left > expiringWindowMs(certificate.notBefore.getTime(), certificate.notAfter.getTime())) return;
    try {
      if ((await this.ctx.storage.get<string>("expiringNotified")) === certificate.serialNumber) return;
      await this.ctx.storage.put("expiringNotified", certificate.serialNumber);
    } catch {
      // Its own storage failing costs this notice, never the renewal's outcome.
      return;
    }
    this.#emit("certificate.expiring", at, { ...eventData(entry.id, entry.names, certificate), expiresInSeconds: Math.max(0, Math.floor(left / 1000)) });
  }

  /** Revokes the certificate (RFC 8555 §7.6) under its lock, from the stored record, and drops it from the index. */
  revoke(id: string, names: string[], reason: RevocationReasonCode | undefined): Promise<RemovalResult> {
    return this.#serial(async () => {
      try {
        const manager = await buildManager(this.env);
        const certificate = await manager.find(names);
        if (!certificate) return { ok: false, failure: { code: "not_issued", message: `${id} has no certificate yet: delete it instead` } };
        await manager.revoke(names, reason);
        this.#emit("certificate.revoked", Date.now(), { ...eventData(id, names, certificate), reason: reason ?? 0 });
      } catch (err) {
        if (err instanceof EdgecertError && err.code === "invalid_input") return { ok: false, failure: { code: "not_issued", message: `${id} has no certificate to revoke` } };
        return { ok: false, failure: failureOf(err) };
      }
      return this.#dropped(id);
    });
  }

  /** Drops a removed or revoked certificate from the index, and its order from the CA budget's queue. */
  async #dropped(id: string): Promise<RemovalResult> {
    await this.#index().remove(id);
    await budgetQueue(this.env).forget(id).catch(() => undefined);
    return { ok: true };
  }

  /** Forgets the certificate (no revocation) under its lock, and drops it from the index. */
  remove(id: string, names: string[]): Promise<RemovalResult> {
    return this.#serial(async () => {
      try {
        await (await buildManager(this.env)).remove(names);
      } catch (err) {
        return { ok: false, failure: failureOf(err) };
      }
      return this.#dropped(id);
    });
  }
}
