import { RenewalIndex } from "../../../workers/renewal-index.ts";
import type { SimSummary } from "./sim-stats.ts";

/** The real renewal index with one read-only query the simulation asks at the end of its window. */
export class SimRenewalIndex extends RenewalIndex {
  /**
   * The index at the window's end. `until` is past the end by more than a claim lasts (workers/scheduled.ts
   * CLAIM_MS, 15 minutes) and before the rest of the fleet comes due: a certificate claimed but never
   * renewed, due again at its claim's end, is counted in the backlog.
   */
  simSummary(until: number): SimSummary {
    const one = (sql: string, ...args: number[]) => this.ctx.storage.sql.exec<{ n: number }>(sql, ...args).one().n;
    return {
      certificates: one("SELECT COUNT(*) AS n FROM certificates"),
      renewedOnce: one("SELECT COUNT(*) AS n FROM certificates WHERE issuer = 'sim #1'"),
      renewedMore: one("SELECT COUNT(*) AS n FROM certificates WHERE issuer LIKE 'sim #%' AND issuer <> 'sim #1'"),
      backlog: one("SELECT COUNT(*) AS n FROM certificates WHERE due_at <= ? AND issuer IS NULL", until),
      oldestWaitingDueAt: this.ctx.storage.sql.exec<{ t: number | null }>("SELECT MIN(due_at) AS t FROM certificates WHERE due_at <= ? AND issuer IS NULL", until).one().t,
      failing: one("SELECT COUNT(*) AS n FROM certificates WHERE status <> 'valid'"),
    };
  }
}
