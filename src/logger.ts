/** Severity of a {@link Logger} record. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * A structured logger. edgecert is silent unless given one; records carry an event name and fields
 * (never private keys). `console`-backed: `consoleLogger`.
 */
export interface Logger {
  /**
   * Records one event.
   * @param level How severe it is.
   * @param event A stable dotted name, e.g. `obtain.finalized` or `acme.retry`.
   * @param fields Details (URLs, names, durations in ms); never key material.
   */
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

/** Discards everything (the default). */
export const silentLogger: Logger = { log() {} };

/** Options for {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /** The clock that stamps each line (tests). Default: the current time. */
  now?: () => Date;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * Writes one JSON line per record to the console, at `minLevel` and above. Each line starts with
 * `time` (ISO 8601, UTC, milliseconds) so lines from a long issuance, or from several instances, can be
 * ordered and timed: `{"time":"2026-12-02T13:05:01.042Z","level":"info","event":"obtain.finalized",…}`.
 */
export function consoleLogger(minLevel: LogLevel = "info", options: ConsoleLoggerOptions = {}): Logger {
  const min = LEVELS.indexOf(minLevel);
  const now = options.now ?? (() => new Date());
  return {
    log(level, event, fields) {
      if (LEVELS.indexOf(level) < min) return;
      const stamp = { time: now().toISOString(), level, event };
      // First for reading, and again after the fields so that none of them can overwrite these.
      const line = JSON.stringify({ ...stamp, ...fields, ...stamp });
      if (level === "error") console.error(line);
      else if (level === "warn") console.warn(line);
      else console.log(line);
    },
  };
}
