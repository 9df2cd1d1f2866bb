// The edgecert Worker with one method added to its renewal index: `toPreTurnSchema()` turns the
// index's database back into what a deployment made before the fair claim of first issuances has (no
// `reg_domain` or `turn` column, no `first_pending` table, its triggers or the indexes on them),
// keeping every row. A test writes entries through the real index, calls it, and starts the real
// Worker on the same persisted state (test/workers/turn-upgrade.test.ts).
import { RenewalIndex as Real } from "../../../workers/renewal-index.ts";

export * from "../../../workers/index.ts";
export { default } from "../../../workers/index.ts";

export class RenewalIndex extends Real {
  toPreTurnSchema(): void {
    const sql = this.ctx.storage.sql;
    for (const trigger of ["insert", "delete", "update"]) sql.exec(`DROP TRIGGER IF EXISTS first_pending_${trigger}`);
    sql.exec("DROP TABLE IF EXISTS first_pending");
    for (const index of ["certificates_first_turn", "certificates_first_domain"]) sql.exec(`DROP INDEX IF EXISTS ${index}`);
    sql.exec("ALTER TABLE certificates DROP COLUMN turn");
    sql.exec("ALTER TABLE certificates DROP COLUMN reg_domain");
  }

  columns(): string[] {
    return this.ctx.storage.sql.exec<{ name: string }>("PRAGMA table_info(certificates)").toArray().map((r) => r.name);
  }
}
