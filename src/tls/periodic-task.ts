/** A task run on an interval that never overlaps itself. */
export interface PeriodicTask<T> {
  /** Runs the task now (or joins the run in progress) and returns its result. */
  runNow(): Promise<T>;
  /** Stops the interval and aborts a run in progress. Idempotent. */
  stop(): void;
}

/**
 * Runs `task` every `intervalMs` without overlapping runs; tick failures go to `onError`. The timer does
 * not keep the process alive (unref'd in Node and Bun, `Deno.unrefTimer` in Deno): a server does that.
 */
export function startPeriodicTask<T>(
  task: (signal: AbortSignal) => Promise<T>,
  intervalMs: number,
  onError: (error: unknown) => void,
): PeriodicTask<T> {
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
  const stopped = new AbortController();
  let running: Promise<T> | undefined;
  const runNow = (): Promise<T> => {
    running ??= task(stopped.signal).finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (!running) runNow().catch(onError);
  }, intervalMs);
  unrefTimer(timer);
  return {
    runNow,
    stop() {
      clearInterval(timer);
      stopped.abort();
    },
  };
}

/** Lets the process exit while the timer is pending, in every runtime. */
function unrefTimer(timer: ReturnType<typeof setInterval>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer && typeof timer.unref === "function") {
    timer.unref();
    return;
  }
  // Deno's timers are numbers.
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
}
