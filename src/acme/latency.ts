/**
 * Round-trip times of a client's requests to its CA: how long each request took from sending to the
 * response headers, without the time spent waiting for a nonce. The smallest recent sample estimates
 * the network round trip; larger ones show the CA's own work.
 */
export class LatencyMeter {
  private readonly window: number[] = [];
  private total = 0;
  private readonly slowest: Array<{ at: number; ms: number }> = [];

  /**
   * An empty meter.
   * @param windowSize How many recent requests the estimates look at.
   */
  constructor(private readonly windowSize = 16) {}

  /** Records one request's duration in milliseconds. */
  record(ms: number): void {
    this.total++;
    this.window.push(ms);
    if (this.window.length > this.windowSize) this.window.shift();
    this.slowest.push({ at: this.total, ms });
    if (this.slowest.length > 256) this.slowest.shift();
  }

  /** Requests measured so far; pass it to {@link slowestSince} to look at what came after. */
  get samples(): number {
    return this.total;
  }

  /** The network round trip: the fastest of the recent requests, or undefined before the first. */
  get roundTripMs(): number | undefined {
    return this.window.length === 0 ? undefined : Math.min(...this.window);
  }

  /** The slowest request measured after `mark` (a {@link samples} value), or 0 when none was. */
  slowestSince(mark: number): number {
    let max = 0;
    for (const s of this.slowest) if (s.at > mark && s.ms > max) max = s.ms;
    return max;
  }

  /**
   * How long the CA itself worked on the slowest request after `mark`: its duration less one network
   * round trip.
   */
  serverTimeSince(mark: number): number {
    return Math.max(0, this.slowestSince(mark) - (this.roundTripMs ?? 0));
  }
}
