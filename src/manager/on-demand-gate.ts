import { nextAttemptAfterFailure } from "./renewal-schedule.ts";

/** Bounds on certificates obtained on demand (during a TLS handshake, through the host policy). */
export interface OnDemandLimits {
  /** Most on-demand orders running at once in this process. Default 4. */
  maxConcurrent?: number;
  /** Most on-demand orders started per rolling hour in this process. Default 30. */
  maxPerHour?: number;
  /** How long a name that failed is not tried again, at least (then per-name exponential backoff). Default 60 000 ms. */
  failureCacheMs?: number;
}

/** Why the gate refused an on-demand order. */
export type OnDemandRefusal = "backoff" | "busy" | "hourly_limit";

/** A granted on-demand attempt: report how it ended. */
export interface OnDemandTicket {
  done(succeeded: boolean): void;
}

const HOUR = 3_600_000;

/**
 * Decides whether a handshake may start an on-demand order, so an attacker cycling names under an
 * allowed suffix cannot cause unbounded orders: a name that failed is refused for a minute and then
 * with exponential backoff (autocert remembers failures for a minute too), and orders are bounded in
 * number at once and per hour. State is this process's memory.
 */
export class OnDemandGate {
  readonly #failures = new Map<string, { failures: number; until: number }>();
  readonly #started: number[] = [];
  #running = 0;
  readonly #maxConcurrent: number;
  readonly #maxPerHour: number;
  readonly #failureCacheMs: number;

  constructor(
    limits: OnDemandLimits,
    private readonly now: () => number,
  ) {
    this.#maxConcurrent = limits.maxConcurrent ?? 4;
    this.#maxPerHour = limits.maxPerHour ?? 30;
    this.#failureCacheMs = limits.failureCacheMs ?? 60_000;
  }

  /** A ticket for an order for `name`, or why there is none now. */
  admit(name: string): OnDemandTicket | OnDemandRefusal {
    const now = this.now();
    const failed = this.#failures.get(name);
    if (failed && now < failed.until) return "backoff";
    if (this.#running >= this.#maxConcurrent) return "busy";
    while (this.#started.length > 0 && this.#started[0]! <= now - HOUR) this.#started.shift();
    if (this.#started.length >= this.#maxPerHour) return "hourly_limit";
    this.#started.push(now);
    this.#running++;
    let open = true;
    return {
      done: (succeeded) => {
        if (!open) return;
        open = false;
        this.#running--;
        if (succeeded) {
          this.#failures.delete(name);
          return;
        }
        const failures = (this.#failures.get(name)?.failures ?? 0) + 1;
        const at = this.now();
        this.#failures.set(name, { failures, until: Math.max(at + this.#failureCacheMs, nextAttemptAfterFailure(failures, at, undefined)) });
        // Bounded memory: forget the oldest failures first.
        if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!);
      },
    };
  }
}
