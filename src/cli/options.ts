/// <reference types="node" />
/**
 * Command-line parsing with `util.parseArgs` (`node:util`): built into Node ≥ 18.3 and provided by
 * Deno's and Bun's Node compatibility, so the CLI needs no argument-parser dependency and parses the
 * same everywhere. Unknown flags and missing values are usage errors (exit 2) naming the flag.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError } from "./exit-codes.ts";

type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** The flag values `util.parseArgs` returns for an option spec. */
export type ParsedFlags<T extends OptionSpec> = ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: true }>>["values"];

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  dir: { type: "string" },
  storage: { type: "string" },
  server: { type: "string" },
  email: { type: "string" },
  "ca-file": { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpec;

/** Flags of `issue` (and the challenge flags `renew` reuses from the stored configuration). */
export const ISSUE_OPTIONS = {
  ...COMMON_OPTIONS,
  domain: { type: "string", short: "d", multiple: true },
  "cert-name": { type: "string" },
  "agree-tos": { type: "boolean" },
  "key-type": { type: "string" },
  profile: { type: "string" },
  http: { type: "boolean" },
  "http-port": { type: "string" },
  "http-address": { type: "string" },
  webroot: { type: "string" },
  "self-check": { type: "boolean" },
  "tls-alpn": { type: "boolean" },
  "tls-port": { type: "string" },
  "tls-address": { type: "string" },
  dns: { type: "string" },
  "dns-exec": { type: "string" },
  "dns-persist": { type: "boolean" },
  "doh-resolver": { type: "string" },
  "eab-kid": { type: "string" },
  "eab-hmac": { type: "string" },
  "deploy-hook": { type: "string" },
  "force-renewal": { type: "boolean" },
} as const satisfies OptionSpec;

/** Flags of `renew`. */
export const RENEW_OPTIONS = {
  ...COMMON_OPTIONS,
  "cert-name": { type: "string" },
  force: { type: "boolean" },
  "deploy-hook": { type: "string" },
} as const satisfies OptionSpec;

/** Flags of `revoke`. */
export const REVOKE_OPTIONS = {
  ...COMMON_OPTIONS,
  "cert-name": { type: "string" },
  domain: { type: "string", short: "d", multiple: true },
  reason: { type: "string" },
  "keep-files": { type: "boolean" },
} as const satisfies OptionSpec;

/** Flags of `list`. */
export const LIST_OPTIONS = { ...COMMON_OPTIONS } as const satisfies OptionSpec;

/** Flags of `account`. */
export const ACCOUNT_OPTIONS = {
  ...COMMON_OPTIONS,
  "new-email": { type: "string" },
  yes: { type: "boolean" },
  "caa-identity": { type: "string" },
  wildcard: { type: "boolean" },
} as const satisfies OptionSpec;

/** Parses `args` against `options`; usage errors become {@link CliError}s that say what to fix. */
export function parse<T extends OptionSpec>(command: string, args: string[], options: T): { values: ParsedFlags<T>; positionals: string[] } {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true }) as { values: ParsedFlags<T>; positionals: string[] };
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new CliError(`edgecert ${command}: ${message} (see edgecert ${command} --help)`, 2, { cause: err });
  }
}

/** A port flag's value: an integer 1..65535 (0 is allowed for tests that want any free port). */
export function portOption(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`${flag} must be a port number, got ${JSON.stringify(value)}`);
  return port;
}
