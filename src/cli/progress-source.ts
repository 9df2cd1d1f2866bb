/**
 * Turns what the library reports into {@link ProgressEvent}s: `obtainCertificate`'s progress events
 * (`ObtainProgressEvent`, which the manager passes on to its logger as `obtain.<type>` records) and
 * the solvers (which challenge type a name uses). Log records are read for their event names and
 * progress fields only; they never carry key material.
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

const seconds = (ms: unknown) => (typeof ms === "number" ? `${(ms / 1000).toFixed(1)}s` : "");

/** A logger that feeds the progress view from `obtain.<type>` progress records. */
export function progressLogger(sink: ProgressSink): Logger {
  return {
    log(level: LogLevel, event: string, fields: Record<string, unknown> = {}) {
      const cert = sink.current();
      if (!cert) return;
      const emit = (e: ProgressEvent) => sink.emit(e);
      switch (event) {
        case "obtain.order":
          emit({ type: "step", cert, step: "authorization", detail: fields.resumed ? "order resumed" : "order created" });
          break;
        case "obtain.authorizations":
          emit({ type: "step", cert, step: "authorization", detail: `${String(fields.pending)} of ${String(fields.total)} to validate` });
          break;
        case "obtain.accepted":
          emit({ type: "step", cert, step: "validation" });
          break;
        case "obtain.authorization_valid": {
          const identifier = fields.identifier as { value?: string } | undefined;
          const how = fields.reused ? "reused" : `${String(fields.challengeType ?? "")} ${seconds(fields.durationMs)}`.trim();
          // Validation of this name is over; the order's finalize comes next.
          if (identifier?.value) {
            for (const name of [identifier.value, `*.${identifier.value}`]) emit({ type: "step", cert, step: "finalize", name, detail: how });
          }
          break;
        }
        case "obtain.finalized":
          emit({ type: "step", cert, step: "download" });
          break;
        case "obtain.downloaded":
          emit({ type: "step-done", cert, step: "download" });
          break;
        default:
          if (sink.verbose && (level === "warn" || level === "error")) {
            const detail = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
            emit({ type: "note", cert, message: `${level}: ${event}${detail ? ` ${detail}` : ""}`.slice(0, 300) });
          }
      }
    },
  };
}

/** A solver listener that feeds the progress view: which challenge type each name is proved with. */
export function progressSolverListener(sink: ProgressSink): SolverListener {
  return {
    present(name, challengeType) {
      const cert = sink.current();
      if (cert) sink.emit({ type: "step", cert, step: "authorization", name, detail: challengeType });
    },
    cleanup() {},
  };
}
