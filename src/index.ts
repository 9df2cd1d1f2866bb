/**
 * edgecert: an ACME (RFC 8555) client and certificate manager for Cloudflare Workers, Deno, Bun and
 * Node, on WebCrypto alone. The Hono middleware is `edgecert/hono`, so this entry needs no Hono.
 * @module
 */
export * from "./webcrypto/index.ts";
export * from "./acme/index.ts";
export { EdgecertError, isEdgecertError, type EdgecertErrorCode } from "./errors.ts";
export { consoleLogger, silentLogger, type ConsoleLoggerOptions, type Logger, type LogLevel } from "./logger.ts";
export * from "./manager/index.ts";
export * from "./storage/index.ts";
export * from "./dns/index.ts";
export * from "./hub/index.ts";
export * from "./budget/index.ts";
export * from "./preflight/index.ts";
