/**
 * A seeded scheduler for interleaving searches. Actors ("processes") run ordinary async code whose
 * every storage operation and CA request first waits at a gate; the scheduler opens one gate at a
 * time, chosen by a seeded PRNG, once every actor has come to rest (no WebCrypto work in flight, no
 * pending microtasks). Time is virtual: timers fire only when the scheduler moves the clock. An actor
 * can be killed (every pending and future gate throws {@link Killed}; its leases are simply never
 * released) or paused (its gates are not opened for a while, e.g. while the clock jumps past its
 * lease: a GC pause or a partition). The same seed gives the same schedule.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { seededRandom } from "./seeded-random.ts";

/** Thrown into a killed actor. */
export class Killed extends Error {
  constructor(actor: string) {
    super(`${actor} was killed`);
    this.name = "Killed";
  }
}

interface Gate {
  actor: string;
  label: string;
  seq: number;
  open: () => void;
  fail: (err: unknown) => void;
}
interface Timer {
  actor: string;
  at: number;
  seq: number;
  fire: () => void;
  fail: (err: unknown) => void;
}

/** The scheduler whose actors are running (schedules may run side by side in one process). */
const current = new AsyncLocalStorage<Scheduler>();
let subtlePatched = false;
/** Counts each scheduler's WebCrypto operations in flight (they complete on a thread pool, not as microtasks). */
function patchSubtle(): void {
  if (subtlePatched) return;
  subtlePatched = true;
  const subtle = globalThis.crypto.subtle as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of ["digest", "sign", "verify", "generateKey", "importKey", "exportKey", "encrypt", "decrypt", "deriveBits"]) {
    const original = subtle[name]!.bind(subtle);
    subtle[name] = (...args: unknown[]) => {
      const owner = current.getStore();
      if (!owner) return original(...args);
      owner.cryptoInFlight++;
      return original(...args).finally(() => {
        owner.cryptoInFlight--;
      });
    };
  }
}

/** See the module comment. */
export class Scheduler {
  now: number;
  readonly random: () => number;
  /** Steps taken (gates opened + clock moves). */
  steps = 0;
  readonly trace: string[] = [];
  /** The actor whose CA request is being handled (requests are handled one at a time). */
  requestActor: string | undefined;
  readonly #gates: Gate[] = [];
  readonly #timers: Timer[] = [];
  readonly #dead = new Set<string>();
  readonly #paused = new Map<string, number>();
  #seq = 0;
  #activity = 0;
  /** WebCrypto operations of this scheduler's actors in flight. */
  cryptoInFlight = 0;

  constructor(seed: number, startAt: number) {
    patchSubtle();
    this.random = seededRandom(seed);
    this.now = startAt;
  }

  /** Runs `fn` (a whole schedule) as this scheduler's: its WebCrypto work is counted here. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return current.run(this, fn);
  }

  /** A uniformly random integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Waits until the scheduler opens this gate (throws {@link Killed} if the actor dies first). */
  gate(actor: string, label: string): Promise<void> {
    this.#activity++;
    if (this.#dead.has(actor)) return Promise.reject(new Killed(actor));
    return new Promise((open, fail) => this.#gates.push({ actor, label, seq: ++this.#seq, open, fail }));
  }

  /** A virtual-time sleep for `actor` (rejects when `signal` fires or the actor dies). */
  sleep(actor: string, ms: number, signal?: AbortSignal): Promise<void> {
    this.#activity++;
    if (this.#dead.has(actor)) return Promise.reject(new Killed(actor));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((fire, fail) => {
      const timer: Timer = { actor, at: this.now + Math.max(0, ms), seq: ++this.#seq, fire, fail };
      this.#timers.push(timer);
      signal?.addEventListener(
        "abort",
        () => {
          const i = this.#timers.indexOf(timer);
          if (i >= 0) this.#timers.splice(i, 1);
          fail(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Kills `actor`: its pending gates and timers throw, and so will every later one. */
  kill(actor: string): void {
    this.#dead.add(actor);
    this.trace.push(`kill ${actor}`);
    for (const g of this.#gates.filter((x) => x.actor === actor)) {
      this.#gates.splice(this.#gates.indexOf(g), 1);
      g.fail(new Killed(actor));
    }
    for (const t of this.#timers.filter((x) => x.actor === actor)) {
      this.#timers.splice(this.#timers.indexOf(t), 1);
      t.fail(new Killed(actor));
    }
  }

  isDead(actor: string): boolean {
    return this.#dead.has(actor);
  }

  /** Holds `actor`'s gates closed for the next `steps` steps. */
  pause(actor: string, steps: number): void {
    this.trace.push(`pause ${actor} ${steps}`);
    this.#paused.set(actor, steps);
  }

  /** Moves the clock by `ms`, firing timers that come due, in time order. */
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    this.trace.push(`advance ${ms}`);
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.now = Math.max(this.now, due.at);
      due.fire();
      await this.settle();
    }
    this.now = target;
  }

  /** Waits until every actor is at a gate, asleep, or done: no WebCrypto work and no microtasks pending. */
  async settle(): Promise<void> {
    let quiet = 0;
    // Bounded by rounds and wall time together: under a loaded machine a WebCrypto call in flight can
    // outlast 100,000 rounds (a search then failed a schedule that replays clean alone).
    const started = Date.now();
    for (let rounds = 0; quiet < 3; rounds++) {
      const before = this.#activity;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.cryptoInFlight === 0 && this.#activity === before) quiet++;
      else quiet = 0;
      if (rounds > 100_000 && Date.now() - started > 60_000) throw new Error("the actors never came to rest");
    }
  }

  /** Whether anything can still move: a gate or a timer. */
  get idle(): boolean {
    return this.#gates.length === 0 && this.#timers.length === 0;
  }

  /**
   * One step: open a gate (the PRNG picks among the actors that are not paused), or, when none is
   * open-able, move the clock to the next timer. Returns false when nothing can move.
   */
  async step(): Promise<boolean> {
    await this.settle();
    this.steps++;
    for (const [actor, left] of this.#paused) {
      if (left <= 1) this.#paused.delete(actor);
      else this.#paused.set(actor, left - 1);
    }
    const runnable = this.#gates
      .filter((g) => !this.#paused.has(g.actor))
      .sort((a, b) => (a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : a.label < b.label ? -1 : a.label > b.label ? 1 : a.seq - b.seq));
    if (runnable.length > 0) {
      const gate = runnable[this.int(runnable.length)]!;
      this.#gates.splice(this.#gates.indexOf(gate), 1);
      this.trace.push(`${gate.actor} ${gate.label}`);
      gate.open();
      return true;
    }
    const next = [...this.#timers].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (next) {
      await this.advance(next.at - this.now);
      return true;
    }
    if (this.#gates.length > 0) {
      // Only paused actors can move: let time pass for them.
      this.#paused.clear();
      return true;
    }
    return false;
  }

  /** A fetch for `actor` whose every request waits at a gate first. */
  fetchFor(actor: string, inner: typeof fetch): typeof fetch {
    return async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      await this.gate(actor, `${init?.method ?? "GET"} ${new URL(url).pathname}`);
      // Like fetch: an aborted request is never sent.
      if (init?.signal?.aborted) throw init.signal.reason;
      this.requestActor = actor;
      return inner(input, init);
    };
  }
}
