/** One result row: column name → value. {@link PostgresStorage} casts every column it reads to text. */
export type PostgresRow = Record<string, unknown>;

/**
 * The one thing {@link PostgresStorage} needs from a PostgreSQL client: run one parameterized statement
 * (`$1`, `$2`, … placeholders) and return its rows. Every storage operation is a single statement, so a
 * pool that hands each statement to any connection is fine (no session state, no advisory locks).
 */
export interface PostgresQueryClient {
  /** Runs one parameterised statement and returns its rows. */
  query(sql: string, params: (string | null)[]): Promise<PostgresRow[]>;
}

/** The part of a `pg` `Pool` or `Client` used: `query(text, values)` → `{ rows }`. */
export interface PgLike {
  /** node-postgres' `query`. */
  query(text: string, values: (string | null)[]): Promise<{ rows: PostgresRow[] }>;
}

/** The part of a postgres.js `sql` instance used: `sql.unsafe(query, params)` → rows. */
export interface PostgresJsLike {
  /** postgres.js' `unsafe` (parameterised despite the name). */
  unsafe(query: string, params: (string | null)[]): PromiseLike<readonly PostgresRow[]>;
}

/** Adapts a `pg` `Pool` (recommended) or connected `Client`. */
export function fromPg(pool: PgLike): PostgresQueryClient {
  return { query: async (sql, params) => (await pool.query(sql, params)).rows };
}

/** Adapts a postgres.js instance (`postgres(url)`). */
export function fromPostgresJs(sql: PostgresJsLike): PostgresQueryClient {
  return { query: async (text, params) => [...(await sql.unsafe(text, params))] };
}
