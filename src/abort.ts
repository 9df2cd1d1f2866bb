import { EdgecertError } from "./errors.ts";

/** Throws the signal's reason as an `EdgecertError("aborted")` if it has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** The error edgecert throws when a caller's signal fires. */
export function abortError(signal: AbortSignal): EdgecertError {
  const reason: unknown = signal.reason;
  if (reason instanceof EdgecertError) return reason;
  return new EdgecertError("aborted", "the operation was aborted", { cause: reason });
}

/** Sleeps `ms`, rejecting early with `EdgecertError("aborted")` when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `promise`, or a rejection with {@link abortError} as soon as `signal` fires: the caller stops waiting
 * while the work itself goes on (for work shared with other callers, which one caller's abort must not end).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** A signal that fires after a time, and the way to stop its timer. */
export interface TimeoutSignal {
  /** Aborts with a `TimeoutError` DOMException once the time is up. */
  signal: AbortSignal;
  /** Stops the timer: call it once the work the signal bounds is over. */
  clear(): void;
}

/**
 * A signal that aborts with a `TimeoutError` after `ms`, whose timer {@link TimeoutSignal.clear} stops.
 * `AbortSignal.timeout()` has no such stop: its timer stays pending until it fires, and a pending timer
 * keeps a Workers Durable Object from hibernating (in memory, and billed) until then. In Node the timer
 * does not keep the process alive, as AbortSignal.timeout()'s does not.
 */
export function timeoutSignal(ms: number): TimeoutSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError")), ms);
  (timer as { unref?: () => void }).unref?.();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
