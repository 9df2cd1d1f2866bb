/**
 * The random part of a version. A backend that numbers versions from a counter it keeps in its own
 * data (Redis `INCR`, a PostgreSQL sequence, a Deno KV versionstamp, a Durable Object's SQLite row)
 * hands the same number out again once that data is lost or rolled back: a restart without
 * persistence, a failover to a replica that lagged, a restored snapshot or point-in-time recovery. A
 * counter (or an epoch) stored in the same data is rolled back with it, so it cannot tell. 96 random
 * bits drawn by the writer at the moment of the write can: a version naming one write never names
 * another, whatever the backend forgets (two writes meet on one nonce with probability ~n²/2⁹⁷).
 *
 * A restored snapshot may bring back a value together with its own version: that is still the same
 * write, so a compare-and-set naming it may succeed — it overwrites exactly the value its caller read.
 */
export function versionNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
