/** What the order needs of an index entry: its names, and whether it has a certificate (a renewal). */
export interface DispatchEntry {
  readonly names: readonly string[];
  readonly notAfter?: number | undefined;
}

/**
 * `entries` in the order a tick hands them out: renewals (entries with a certificate) first, in due
 * order; then first issuances with each registered domain's (`domainOf`) spread evenly over the rest,
 * each domain's in due order — a domain with half the names has every other place, one with 10 of 300
 * one place in 30, starting at the front. A tick runs its renewals a few at a time (6 chunks at once,
 * 6 renewals at a time in each) and the CA budget's fair queue can only order those that reach it: in
 * due order, a batch added together — one customer's names before another's — reached it one
 * customer after another, and the last customer's first certificate waited a minute (onboarding
 * through the Worker in bulk: the second customer's first at 61 s of 129); taking strict turns, the
 * largest customer, whose own limit decides when the batch is done, had too few names in the queue
 * to spend its limit as it refilled (1.13x the time the limits allow).
 */
export function fairDispatchOrder<T extends DispatchEntry>(entries: readonly T[], domainOf: (entry: T) => string): T[] {
  const renewals = entries.filter((e) => e.notAfter !== undefined);
  const byDomain = new Map<string, T[]>();
  for (const e of entries) {
    if (e.notAfter !== undefined) continue;
    const domain = domainOf(e);
    const list = byDomain.get(domain);
    if (list) list.push(e);
    else byDomain.set(domain, [e]);
  }
  // Each entry at the middle of its share of the line: (rank + 0.5) / its domain's count; ties by domain order.
  const placed = [...byDomain.values()].flatMap((list, d) => list.map((entry, rank) => ({ entry, at: (rank + 0.5) / list.length, d })));
  placed.sort((a, b) => a.at - b.at || a.d - b.d);
  return [...renewals, ...placed.map((p) => p.entry)];
}
