/** What the modelled renewers did since the driver last asked (module state of the one isolate). */
export interface SimTickStats {
  renewed: number;
  /** Certificates renewed a second time in the simulated window (each comes due once). */
  renewedAgain: number;
  gone: number;
  /** Longest wait between a certificate's due time and the end of its renewal (virtual ms). */
  maxLagMs: number;
  lagSumMs: number;
  /** Most subrequests / simultaneous calls one renewer invocation made. */
  renewerMaxSubrequests: number;
  renewerMaxInFlight: number;
  /** Outcomes of the tick's renewals as the dispatchers returned them, and the first few errors. */
  outcomes: Record<string, number>;
  errors: string[];
}

const empty = (): SimTickStats => ({ renewed: 0, renewedAgain: 0, gone: 0, maxLagMs: 0, lagSumMs: 0, renewerMaxSubrequests: 0, renewerMaxInFlight: 0, outcomes: {}, errors: [] });
let stats = empty();

/** Records one renewal that finished `lagMs` after its due time. */
export function recordRenewal(lagMs: number, again: boolean, subrequests: number, maxInFlight: number): void {
  stats.renewed++;
  if (again) stats.renewedAgain++;
  stats.maxLagMs = Math.max(stats.maxLagMs, lagMs);
  stats.lagSumMs += lagMs;
  stats.renewerMaxSubrequests = Math.max(stats.renewerMaxSubrequests, subrequests);
  stats.renewerMaxInFlight = Math.max(stats.renewerMaxInFlight, maxInFlight);
}

/** Records what a tick returned (workers/scheduled.ts TickResult). */
export function recordOutcomes(result: { skipped?: string; results: Array<{ outcome: string; error?: string }> }): void {
  if (result.skipped) stats.errors.push(`tick skipped: ${result.skipped}`);
  for (const r of result.results) {
    stats.outcomes[r.outcome] = (stats.outcomes[r.outcome] ?? 0) + 1;
    if (r.error && stats.errors.length < 5) stats.errors.push(r.error.slice(0, 300));
  }
}

export function recordGone(): void {
  stats.gone++;
}

/** The figures so far, starting afresh. */
export function takeStats(): SimTickStats {
  const taken = stats;
  stats = empty();
  return taken;
}

/** What the index holds at the end of a simulated window. */
export interface SimSummary {
  certificates: number;
  /** Renewed once / more than once by the stand-in. */
  renewedOnce: number;
  renewedMore: number;
  /** Due by the window's end and not renewed (a claimed entry's due time is the claim's end: counted too). */
  backlog: number;
  /** The earliest due time among those (epoch ms), null when there is no backlog. */
  oldestWaitingDueAt: number | null;
  /** Entries whose renewal failed (status other than valid): the stand-in never fails, so a claim gone wrong. */
  failing: number;
}

