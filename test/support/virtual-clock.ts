/**
 * Accelerated time for simulations: `now()` moves only when {@link VirtualClock.drive} advances it to
 * the earliest pending `sleep`, and it does so only once the real work in flight has gone quiet (a
 * few real milliseconds with nothing new) and the caller's `ready()` says all work waits on this
 * clock, so waiting costs no wall time and the work itself none of the virtual time.
 */
export class VirtualClock {
  #t: number;
  #timers: Array<{ at: number; resolve: () => void; seq: number }> = [];
  #seq = 0;
  /** Virtual milliseconds the clock moved. */
  advancedMs = 0;

  constructor(start = Date.UTC(2026, 11, 6)) {
    this.#t = start;
  }

  readonly now = (): number => this.#t;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      const timer = { at: this.#t + Math.max(0, ms), resolve, seq: this.#seq++ };
      if (signal?.aborted) return resolve();
      this.#timers.push(timer);
      signal?.addEventListener(
        "abort",
        () => {
          this.#timers = this.#timers.filter((t) => t !== timer);
          resolve();
        },
        { once: true },
      );
    });

  /**
   * Runs until `done()` (checked between steps), advancing time to each next timer once things are
   * quiet. Bounded: throws after `maxSteps` advances or `maxRealMs` of wall time.
   */
  async drive(done: () => boolean, { maxSteps = 100_000, maxRealMs = 120_000, ready = (): boolean => true } = {}): Promise<{ steps: number }> {
    const started = Date.now();
    let steps = 0;
    while (!done()) {
      if (Date.now() - started > maxRealMs) throw new Error(`virtual clock: not done after ${maxRealMs} ms of wall time (${steps} steps)`);
      // Let real work (crypto, storage, the CA) settle before time moves.
      await new Promise((r) => setTimeout(r, 3));
      if (done()) break;
      // `ready`: the caller knows every piece of work is waiting on this clock (not on real I/O).
      if (this.#timers.length === 0 || !ready()) continue;
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers.shift()!;
      if (next.at > this.#t) {
        this.advancedMs += next.at - this.#t;
        this.#t = next.at;
      }
      next.resolve();
      if (++steps > maxSteps) throw new Error(`virtual clock: more than ${maxSteps} steps`);
    }
    return { steps };
  }
}
