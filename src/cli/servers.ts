import { DEFAULT_DIRECTORY_URL, LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING } from "../acme/constants.ts";
import { CliError } from "./exit-codes.ts";

/** A CA the CLI knows by name. */
export interface KnownServer {
  directoryUrl: string;
  /** The CA refuses accounts without external account binding (RFC 8555 §7.3.4). */
  requiresEab: boolean;
  /** What it is, in messages. */
  label: string;
}

/** `--server` shorthands. */
export const KNOWN_SERVERS: Readonly<Record<string, KnownServer>> = {
  letsencrypt: { directoryUrl: LETS_ENCRYPT_PRODUCTION, requiresEab: false, label: "Let's Encrypt production" },
  "letsencrypt-staging": { directoryUrl: LETS_ENCRYPT_STAGING, requiresEab: false, label: "Let's Encrypt staging (certificates no browser trusts)" },
  zerossl: { directoryUrl: "https://acme.zerossl.com/v2/DV90", requiresEab: true, label: "ZeroSSL" },
};

/**
 * `--server` when none is given: Let's Encrypt production, the default of the library, the samples
 * and the Worker too (`DEFAULT_DIRECTORY_URL`, where the reason is written down).
 */
export const DEFAULT_SERVER = Object.keys(KNOWN_SERVERS).find((k) => KNOWN_SERVERS[k]!.directoryUrl === DEFAULT_DIRECTORY_URL)!;

/** A directory URL as messages name it: `https://… (Let's Encrypt production, the default --server)`. */
export function describeServer(directoryUrl: string): string {
  const name = Object.keys(KNOWN_SERVERS).find((k) => KNOWN_SERVERS[k]!.directoryUrl === directoryUrl);
  if (!name) return directoryUrl;
  return `${directoryUrl} (${KNOWN_SERVERS[name]!.label}, ${name === DEFAULT_SERVER ? "the default --server; --server letsencrypt-staging while testing" : `--server ${name}`})`;
}

/** Resolves `--server` (a shorthand or an https directory URL) to a directory URL, checking EAB needs. */
export function resolveServer(server: string | undefined, eab: { kid?: string; hmac?: string }): string {
  const value = server ?? DEFAULT_SERVER;
  const known = KNOWN_SERVERS[value];
  if ((eab.kid === undefined) !== (eab.hmac === undefined)) throw new CliError("--eab-kid and --eab-hmac go together: give both");
  if (known) {
    if (known.requiresEab && eab.kid === undefined) {
      throw new CliError(`--server ${value} requires external account binding: add --eab-kid and --eab-hmac from your ${value} dashboard`);
    }
    return known.directoryUrl;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--server ${JSON.stringify(value)} is neither ${Object.keys(KNOWN_SERVERS).join(", ")} nor a directory URL`);
  }
  // RFC 8555 §6.1: ACME runs over HTTPS; plain http is allowed only for loopback test servers.
  const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) throw new CliError(`--server must be an https:// URL, got ${value}`);
  return url.href;
}
