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
