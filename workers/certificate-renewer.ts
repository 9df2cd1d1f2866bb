import { DurableObject } from "cloudflare:workers";
import { nextAttemptAfterFailure } from "../src/manager/renewal-schedule.ts";
import type { Env } from "./env.ts";
import { buildManager } from "./manager-factory.ts";
import type { IndexEntry } from "./renewal-index.ts";

/** What one run did. */
export interface RenewerResult {
  id: string;
  outcome: "issued" | "renewed" | "unchanged" | "failed";
  dueAt: number;
  error?: string;
}

/**
 * Runs the ACME work for one certificate in a Durable Object invocation of its own, so a tick that
 * dispatches many renewals spreads their subrequests and CPU over many invocations. The certificate's
 * storage lock still guards against any other instance.
 */
export class CertificateRenewer extends DurableObject<Env> {
  /**
   * Issues, renews or checks the certificate `entry` describes, at time `at` (the tick's time), and
   * records the next due time in the index.
   */
  async run(entry: IndexEntry, at: number, force = false): Promise<RenewerResult> {
    const skew = at - Date.now();
    const now = () => Date.now() + skew;
    const index = this.env.RENEWAL_INDEX.get(this.env.RENEWAL_INDEX.idFromName("index"));
    const manager = buildManager(this.env, { now });
    try {
      // The manager decides at the tick's time: renew if due, refresh the ARI window if the CA asked
      // to be asked again, obtain if missing. `force` (the admin API) renews regardless.
      const existing = await manager.find(entry.names);
      const how = entry.profile ? { profile: entry.profile } : {};
      const certificate = force ? await manager.renew(entry.names, how) : (await manager.maintain(entry.names, how)).certificate;
      const outcome: RenewerResult["outcome"] = !existing ? "issued" : certificate.serialNumber !== existing.serialNumber ? "renewed" : "unchanged";
      const dueAt = certificate.nextCheckAt.getTime();
      await index.upsert({ ...entry, dueAt, status: "valid", notAfter: certificate.notAfter.getTime(), failures: 0, updatedAt: now() });
      return { id: entry.id, outcome, dueAt };
    } catch (err) {
      const failures = entry.failures + 1;
      const dueAt = nextAttemptAfterFailure(failures, now(), entry.notAfter);
      const message = err instanceof Error ? err.message : String(err);
      const { lastError: _ignored, ...rest } = entry;
      await index.upsert({ ...rest, dueAt, status: entry.status === "valid" ? "valid" : "failed", failures, lastError: message.slice(0, 500), updatedAt: now() });
      return { id: entry.id, outcome: "failed", dueAt, error: message };
    }
  }
}
