/**
 * A searched or filtered admin listing page reads a bounded number of rows, however many the table
 * holds (issue 26): the page's query reads at most {@link MAX_ROWS_SCANNED} rows in the listing's order,
 * each with `hit` (whether it matches), and the page is the hits among them. When the bound is reached
 * before the page is full, the page holds fewer rows than asked (possibly none) and its cursor goes on
 * after the last row read, so a client walks the rest page by page, as for any page. An index serves a
 * filter where it can (a state, with no search text): such a page reads only its own rows.
 * @module
 */

/**
 * Most rows one searched or filtered listing page looks at in its SQLite table: a few milliseconds of
 * the object's CPU (the certificates' index also reads as many id-index entries to find the edge). A deployment with up to this many certificates (or one endpoint's delivery log,
 * at most 1,200) finds every match on the first page.
 */
export const MAX_ROWS_SCANNED = 5_000;

/**
 * The page from `rows`, in listing order and read lazily (a SQL cursor with `LIMIT` at most
 * `scanned` rows): up to `limit` hits, and the row to go on after — the last hit when more may follow,
 * the last row read when the bound ended the page — or none at the end of the table.
 */
export function boundedPage<R extends { hit: number | boolean }>(rows: Iterable<R>, limit: number, scanned = MAX_ROWS_SCANNED): { hits: R[]; after?: R } {
  const hits: R[] = [];
  let read = 0;
  let last: R | undefined;
  for (const row of rows) {
    read++;
    last = row;
    if (!row.hit) continue;
    if (hits.length === limit) return { hits, after: hits[limit - 1]! };
    hits.push(row);
  }
  // Fewer rows than the bound: the table ended.
  return read < scanned || !last ? { hits } : { hits, after: hits.length === limit ? hits[limit - 1]! : last };
}

/**
 * How far into the CA budget's queue (GET /admin/queue) a position is counted exactly: a page or a certificate's detail counts the
 * rows ahead of it in the queue's index up to this many (SQLite has no rank index, so an exact
 * position costs a read per row ahead). Past it the position is null and `estimatedAt` still says when.
 */
export const EXACT_POSITIONS = 1_000;

