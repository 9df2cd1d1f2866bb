/**
 * Virtual time for tests, so what they check does not depend on how fast this machine runs: `now()`
 * moves only when the test moves it, and `sleep` wakes only then. Two ways to move it:
 * - {@link VirtualClock.advance}: a given span, in steps — at each step the sleepers due wake in time
 *   order, what they started runs to completion, then the tick hooks run (lease expiry, see
 *   virtual-leases.ts). For lease holders: a lease lapses exactly when its TTL has passed, never
 *   earlier because the machine is loaded.
 * - {@link VirtualClock.drive}: accelerated time for simulations — time jumps to the earliest sleeper
 *   once the real work in flight has gone quiet and the caller says all work waits on this clock, so
 *   waiting costs no wall time and the work itself none of the virtual time.
 * @module
 */

interface Sleeper {
  at: number;
  seq: number;
  wake: () => void;
}

/** A clock that moves only when told to. */
export class VirtualClock {
  #t: number;
  #sleepers: Sleeper[] = [];
  #seq = 0;
  readonly #ticks = new Set<() => Promise<void>>();
  /** Virtual milliseconds {@link drive} moved the clock. */
  advancedMs = 0;

  /** A clock reading `start` (epoch ms) until moved. */
  constructor(start = Date.UTC(2026, 11, 6)) {
    this.#t = start;
  }

  /** The virtual time in ms (bound: pass it as a `now` or lease clock option). */
  readonly now = (): number => this.#t;

  /**
   * Resolves once the clock has moved `ms` on, or at once when `signal` aborts — a wake-up, as the CA
   * budget's queue uses it; the manager's lock timers check their signals after every sleep.
   */
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = {
        at: this.#t + Math.max(0, ms),
        seq: this.#seq++,
        wake: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });

  /** Runs `fn` each time the clock moved (after the sleepers due woke); returns its removal. */
  onTick(fn: () => Promise<void>): () => void {
    this.#ticks.add(fn);
    return () => this.#ticks.delete(fn);
  }

  /**
   * Moves the clock `ms` forward in steps of `stepMs`: at each step the sleepers due wake in time
   * order, then what they started (promise chains over in-memory storage) runs to completion before
   * the next step, then the tick hooks run.
   */
  async advance(ms: number, stepMs = 10): Promise<void> {
    const end = this.#t + ms;
    while (this.#t < end) {
      this.#t = Math.min(end, this.#t + stepMs);
      for (const s of this.#due()) s.wake();
      await settle();
      await this.#tick();
    }
  }

  /**
   * Runs until `done()` (checked between steps), moving time to each next sleeper once things are
   * quiet (a few real ms with nothing new) and `ready()` says every piece of work waits on this clock.
   * With `exact`, `ready()` alone decides (the caller counts its work exactly): no quiet ms to wait,
   * which is what lets a simulation take 100,000 steps. Bounded: throws after `maxSteps` moves or
   * `maxRealMs` of wall time.
   */
  async drive(done: () => boolean, { maxSteps = 100_000, maxRealMs = 120_000, ready = (): boolean => true, exact = false } = {}): Promise<{ steps: number }> {
    const started = Date.now();
    let steps = 0;
    while (!done()) {
      if (Date.now() - started > maxRealMs) throw new Error(`virtual clock: not done after ${maxRealMs} ms of wall time (${steps} steps)`);
      if (exact) {
        // `ready()` is exact (true only while every piece of work waits on this clock): once the
        // microtasks have run, time may move; while it is false, real work (crypto) is under way.
        await new Promise<void>((r) => setImmediate(r));
        if (done()) break;
        if (this.#sleepers.length === 0 || !ready()) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
      } else {
        // Let real work (crypto, storage, the CA) settle before time moves.
        await new Promise((r) => setTimeout(r, 3));
        if (done()) break;
        if (this.#sleepers.length === 0 || !ready()) continue;
      }
      const next = this.#sleepers.reduce((a, b) => (b.at < a.at || (b.at === a.at && b.seq < a.seq) ? b : a));
      this.#sleepers = this.#sleepers.filter((s) => s !== next);
      if (next.at > this.#t) {
        this.advancedMs += next.at - this.#t;
        this.#t = next.at;
      }
      next.wake();
      await this.#tick();
      if (++steps > maxSteps) throw new Error(`virtual clock: more than ${maxSteps} steps`);
    }
    return { steps };
  }

  /** Takes the sleepers due now off the list, earliest first. */
  #due(): Sleeper[] {
    const due = this.#sleepers.filter((s) => s.at <= this.#t).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#sleepers = this.#sleepers.filter((s) => s.at > this.#t);
    return due;
  }

  async #tick(): Promise<void> {
    if (this.#ticks.size === 0) return;
    for (const tick of [...this.#ticks]) await tick();
    await settle();
  }
}

/** Lets every pending promise reaction run (a macrotask turn drains the microtask queue), a few rounds deep. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
