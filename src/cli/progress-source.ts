/**
 * Turns what the library reports into {@link ProgressEvent}s: the solvers (a challenge presented or
 * cleaned up, per name) and the structured log records of the ACME layer (order created, challenges
 * accepted, certificate downloaded). The log is read only for its event names, never for key material.
 * @module
 */
import type { Logger, LogLevel } from "../logger.ts";
import type { SolverListener } from "./challenge-solvers.ts";
import type { ProgressEvent } from "./progress.ts";

/** Where events go, and which certificate is being worked on. */
export interface ProgressSink {
  emit(event: ProgressEvent): void;
  /** The certificate name in progress (one at a time per process). */
  current(): string | undefined;
  /** `--verbose`: warnings and retries from the library, as notes. */
  verbose: boolean;
}

/** A logger that feeds the progress view. */
export function progressLogger(sink: ProgressSink): Logger {
  return {
    log(level: LogLevel, event: string, fields?: Record<string, unknown>) {
      const cert = sink.current();
      if (!cert) return;
      if (event === "acme.order") sink.emit({ type: "step", cert, step: "authorization", detail: "order created" });
      else if (event === "obtain.accepted") sink.emit({ type: "step", cert, step: "validation" });
      else if (event === "obtain.done") sink.emit({ type: "step", cert, step: "download" });
      else if (sink.verbose && (level === "warn" || level === "error")) {
        const detail = fields ? Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ") : "";
        sink.emit({ type: "note", cert, message: `${level}: ${event}${detail ? ` ${detail}` : ""}`.slice(0, 300) });
      }
    },
  };
}

/** A solver listener that feeds the progress view: present = authorization, cleanup = validated. */
export function progressSolverListener(sink: ProgressSink): SolverListener {
  return {
    present(name, challengeType) {
      const cert = sink.current();
      if (cert) sink.emit({ type: "step", cert, step: "authorization", name, detail: challengeType });
    },
    cleanup(name) {
      const cert = sink.current();
      // Challenges are cleaned up once the order settled: validation is over for this name.
      if (cert) sink.emit({ type: "step", cert, step: "finalize", name });
    },
  };
}
