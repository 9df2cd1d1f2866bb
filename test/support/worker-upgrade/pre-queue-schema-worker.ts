// The edgecert Worker with one method added to its renewal index: `toPreQueueSchema()` turns the
// index's database back into what a deployment made before ed81ac0 has (no `queue_at` column, no
// `queue_stats` table or its triggers, the old `certificates_queued` index), keeping every row. A test
// writes entries through the real index, calls it, and starts the real Worker on the same persisted
// state: what an upgrade of a running deployment meets (test/workers/queue-upgrade.test.ts).
import { RenewalIndex as Real } from "../../../workers/renewal-index.ts";

export * from "../../../workers/index.ts";
export { default } from "../../../workers/index.ts";

export class RenewalIndex extends Real {
  toPreQueueSchema(): void {
    const sql = this.ctx.storage.sql;
    for (const trigger of ["queue_waiting_insert", "queue_waiting_delete", "queue_waiting_update"]) sql.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
    sql.exec("DROP TABLE IF EXISTS queue_stats");
    // Every index the queue's order added (any that names queue_at, or the lanes' by due time).
    const added = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND (sql LIKE '%queue_at%' OR name = 'certificates_queue_lane')").toArray();
    for (const { name } of added) sql.exec(`DROP INDEX IF EXISTS ${name}`);
    sql.exec("ALTER TABLE certificates DROP COLUMN queue_at");
    sql.exec("CREATE INDEX IF NOT EXISTS certificates_queued ON certificates (due_at, id) WHERE queued_for IS NOT NULL");
  }

  columns(): string[] {
    return this.ctx.storage.sql.exec<{ name: string }>("PRAGMA table_info(certificates)").toArray().map((r) => r.name);
  }
}
