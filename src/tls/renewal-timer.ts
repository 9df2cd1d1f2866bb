import type { CertificateManager, RenewDueResult } from "../manager/certificate-manager.ts";
import { startPeriodicTask } from "./periodic-task.ts";

/** Options for {@link startRenewalTimer}. */
export interface RenewalTimerOptions {
  /** How often to call `renewDue`. Default one hour: a due check costs storage reads only. */
  intervalMs?: number;
  /** Called after each run with what was renewed or failed. */
  onResult?: (result: RenewDueResult) => void;
  /** Called when a timed run throws. Default: ignored (the manager records failures and backs off). */
  onError?: (error: unknown) => void;
}

/** A running renewal timer. */
export interface RenewalTimer {
  /** Runs `renewDue` now, or joins the run in progress. */
  runNow(): Promise<RenewDueResult>;
  /** Stops the timer and aborts a run in progress. */
  stop(): void;
}

/**
 * Calls `manager.renewDue()` on an interval, never two at once, without keeping the process alive —
 * the long-running server's counterpart of the Worker's cron trigger.
 */
export function startRenewalTimer(manager: Pick<CertificateManager, "renewDue">, options: RenewalTimerOptions = {}): RenewalTimer {
  const task = startPeriodicTask(
    async (signal) => {
      const result = await manager.renewDue({ signal });
      options.onResult?.(result);
      return result;
    },
    options.intervalMs ?? 3_600_000,
    (error) => options.onError?.(error),
  );
  return {
    runNow: () => task.runNow(),
    stop: () => task.stop(),
  };
}
