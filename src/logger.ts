/** Severity of a {@link Logger} record. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * A structured logger. edgecert is silent unless given one; records carry an event name and fields
 * (never private keys). `console`-backed: `consoleLogger`.
 */
export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

/** Discards everything (the default). */
export const silentLogger: Logger = { log() {} };

/** Writes one JSON line per record to the console, at `minLevel` and above. */
export function consoleLogger(minLevel: LogLevel = "info"): Logger {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  const min = order.indexOf(minLevel);
  return {
    log(level, event, fields) {
      if (order.indexOf(level) < min) return;
      const line = JSON.stringify({ level, event, ...fields });
      if (level === "error") console.error(line);
      else if (level === "warn") console.warn(line);
      else console.log(line);
    },
  };
}
