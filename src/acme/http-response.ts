import { EdgecertError } from "../errors.ts";
import { concatBytes } from "../webcrypto/bytes.ts";

/** Largest response body edgecert reads (a PEM chain or JSON object is a few KB). */
export const MAX_BODY_BYTES = 1 << 20;

/**
 * Reads a response body (or a request's: anything with headers and a body stream), refusing bodies
 * over `limit` bytes with `bad_response` (without buffering them).
 */
export async function readBodyBytes(res: Pick<Response, "headers" | "body">, url: string, limit = MAX_BODY_BYTES): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length"));
  if (declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw new EdgecertError("bad_response", `response from ${url} is too large (${declared} bytes)`);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new EdgecertError("bad_response", `response from ${url} is larger than ${limit} bytes`);
    }
    chunks.push(value as Uint8Array<ArrayBuffer>);
  }
  return concatBytes(...chunks);
}

/** Reads a response body as UTF-8 text, refusing bodies over `limit` bytes with `bad_response`. */
export async function readBodyText(res: Response, url: string, limit = MAX_BODY_BYTES): Promise<string> {
  const all = await readBodyBytes(res, url, limit);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
  } catch (cause) {
    throw new EdgecertError("bad_response", `response from ${url} is not UTF-8`, { cause });
  }
}

/** Parses a JSON object body; anything else is `bad_response` naming the URL and status. */
export function parseJsonObject(text: string, url: string, status: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new EdgecertError("bad_response", `${url} answered ${status} with a body that is not JSON: ${snippet(text)}`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EdgecertError("bad_response", `${url} answered ${status} with JSON that is not an object: ${snippet(text)}`);
  }
  return value as Record<string, unknown>;
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}

/** Parses `Link` headers (RFC 8288) into `{ rel, url }` pairs, resolving relative URLs against `base`. */
export function parseLinks(headers: Headers, base: string): Array<{ rel: string; url: string }> {
  const raw = headers.get("link");
  if (!raw) return [];
  const out: Array<{ rel: string; url: string }> = [];
  for (const m of raw.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";,]+)"?/i.exec(m[2] ?? "")?.[1];
    if (!rel) continue;
    try {
      for (const r of rel.split(/\s+/)) out.push({ rel: r.toLowerCase(), url: new URL(m[1]!, base).href });
    } catch {
      // An unparseable link target is ignored, like a browser would.
    }
  }
  return out;
}
