import { toIdentifiers } from "../src/acme/identifiers.ts";
import { EdgecertError } from "../src/errors.ts";
import type { HostPolicy } from "../src/manager/host-policy.ts";

/** An admin API error with a stable `code` and its HTTP status. */
export class AdminError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 500,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_NAMES = 100;

/** Reads a JSON object body of at most {@link MAX_BODY_BYTES}, allowing only `allowed` members. */
export async function readBody(request: Request, allowed: readonly string[]): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new AdminError(413, "body_too_large", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) throw new AdminError(413, "body_too_large", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new AdminError(400, "invalid_json", "the body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new AdminError(400, "invalid_body", "the body must be a JSON object");
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new AdminError(400, "unknown_field", `unknown field(s): ${unknown.join(", ")}`);
  return body as Record<string, unknown>;
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
