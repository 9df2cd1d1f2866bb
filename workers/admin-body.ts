import { readBodyBytes } from "../src/acme/http-response.ts";
import { toIdentifiers } from "../src/acme/identifiers.ts";
import { EdgecertError } from "../src/errors.ts";
import type { HostPolicy } from "../src/manager/host-policy.ts";

/** An admin API error with a stable `code` and its HTTP status. */
export class AdminError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 429 | 500 | 502 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_NAMES = 100;

const tooLarge = (maxBytes: number) => new AdminError(413, "body_too_large", `request bodies are limited to ${maxBytes} bytes here`);

/**
 * The body's text, reading at most `maxBytes` ({@link MAX_BODY_BYTES} by default) + 1 bytes whatever `content-length` says (or
 * when it is absent, as with chunked bodies): a huge body costs a bounded read, then a 413.
 */
export async function readBoundedText(request: Request, maxBytes = MAX_BODY_BYTES): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && !(/^[0-9]{1,15}$/.test(declared) && Number(declared) <= maxBytes)) throw tooLarge(maxBytes);
  let bytes: Uint8Array;
  try {
    bytes = await readBodyBytes(request, "the request", maxBytes);
  } catch (err) {
    if (err instanceof EdgecertError && err.code === "bad_response") throw tooLarge(maxBytes);
    throw new AdminError(400, "body_unreadable", "the request body could not be read");
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new AdminError(400, "invalid_json", "the body is not UTF-8 JSON");
  }
}

/** Reads a JSON object body of at most `maxBytes` ({@link MAX_BODY_BYTES} by default), allowing only `allowed` members. */
export async function readBody(request: Request, allowed: readonly string[], maxBytes = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const text = await readBoundedText(request, maxBytes);
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new AdminError(400, "invalid_json", "the body is not JSON");
  }
  return readObject(body, allowed);
}

/** `value` as a JSON object with only `allowed` members; `invalid_body` / `unknown_field` otherwise (`where` prefixes the message). */
export function readObject(value: unknown, allowed: readonly string[], where = ""): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new AdminError(400, "invalid_body", `${where}the body must be a JSON object`);
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new AdminError(400, "unknown_field", `${where}unknown field(s): ${unknown.join(", ")}`);
  return value as Record<string, unknown>;
}

/**
 * The query parameters of `url`, refusing any not in `allowed`, repeated ones, and any whose value
 * `allowed` does not accept: an unknown or malformed parameter is a 400, never ignored.
 */
export function readQuery(url: string, allowed: Readonly<Record<string, RegExp>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of new URL(url).searchParams) {
    const pattern = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
    if (!pattern) throw new AdminError(400, "unknown_parameter", `unknown query parameter ${JSON.stringify(name.slice(0, 64))}`);
    if (Object.hasOwn(out, name)) throw new AdminError(400, "invalid_parameter", `${name} is given twice`);
    if (!pattern.test(value)) throw new AdminError(400, "invalid_parameter", `${name} has an invalid value`);
    out[name] = value;
  }
  return out;
}

/** Validates the `names` member: 1..100 valid identifiers, each allowed by the policy. Returns them normalised. */
export async function readNames(body: Record<string, unknown>, policy: HostPolicy | undefined): Promise<string[]> {
  const names = body.names;
  if (!Array.isArray(names) || names.length === 0 || names.length > MAX_NAMES || !names.every((n) => typeof n === "string")) {
    throw new AdminError(400, "invalid_names", `names must be an array of 1 to ${MAX_NAMES} strings`);
  }
  let normalised: string[];
  try {
    normalised = toIdentifiers(names as string[]).map((i) => i.value);
  } catch (err) {
    throw new AdminError(400, "invalid_names", err instanceof EdgecertError ? err.message : "invalid names");
  }
  if (policy) {
    for (const n of normalised) {
      if (!(await policy(n))) throw new AdminError(403, "name_not_allowed", `${n} is not in ALLOWED_NAMES`);
    }
  }
  return normalised;
}
