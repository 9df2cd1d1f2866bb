/** What the order needs of an index entry: its names, and whether it has a certificate (a renewal). */
export interface DispatchEntry {
  readonly names: readonly string[];
  readonly notAfter?: number | undefined;
}

/**
 * `entries` in the order a tick hands them out: renewals (entries with a certificate) first, in due
 * order; then every registered domain's (`domainOf`) first issuance, in the order the domains come;
 * then each domain's others spread evenly over the rest, each domain's in due order — a domain with
 * half of them has every other place, one with 10 of 300 one place in 30. A tick runs its renewals a
 * few at a time (6 chunks at once, 6 renewals at a time in each) and, while the CA's budget has
 * tokens to spare, the order they start in is the order the CA sees: in due order, a batch added
 * together — one customer's names before another's — reached it one customer after another (the
 * second customer's first certificate at 61 s of 129); by share alone, a customer with one name sat
 * in the middle of the batch (10,000 names in bulk: the small customers' first certificates at up to
 * 75 % of the run); taking strict turns, the largest customer, whose own limit decides when the
 * batch is done, had too few names in the queue to spend its limit as it refilled (1.13x the time
 * the limits allow).
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
  // Each domain's first entry at the front, its others each at the middle of its share of the rest of
  // the line: (rank - 0.5) / (the domain's count - 1); ties by domain order.
  const placed = [...byDomain.values()].flatMap((list, d) => list.map((entry, rank) => ({ entry, at: rank && (rank - 0.5) / (list.length - 1), d })));
  placed.sort((a, b) => a.at - b.at || a.d - b.d);
  return [...renewals, ...placed.map((p) => p.entry)];
}
