/**
 * The DNS-over-HTTPS JSON format (`application/dns-json`) spoken by Cloudflare (1.1.1.1) and Google
 * (dns.google). It has no RFC; the shape is `{ Status, TC, Answer: [{ name, type, TTL, data }] }`.
 * Parsed into the same {@link DnsResponse} as the wire format; garbage is `EdgecertError("bad_response")`.
 * @module
 */
import { EdgecertError } from "../errors.ts";
import { DNS_TYPE_CNAME, DNS_TYPE_TXT, normalizeDnsName, type DnsAnswer, type DnsResponse } from "./wire-format.ts";

function malformed(why: string): EdgecertError {
  return new EdgecertError("bad_response", `malformed DNS JSON answer: ${why}`);
}

/** Parses the body of an `application/dns-json` response. */
export function parseDnsJson(text: string): DnsResponse {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new EdgecertError("bad_response", "malformed DNS JSON answer: not JSON", { cause });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw malformed("not a JSON object");
  const { Status, TC, Answer } = body as Record<string, unknown>;
  if (typeof Status !== "number" || !Number.isInteger(Status) || Status < 0) throw malformed("no numeric Status");
  if (Answer !== undefined && !Array.isArray(Answer)) throw malformed("Answer is not an array");
  const answers: DnsAnswer[] = [];
  for (const item of (Answer as unknown[] | undefined) ?? []) {
    if (typeof item !== "object" || item === null) throw malformed("an Answer entry is not an object");
    const { name, type, TTL, data } = item as Record<string, unknown>;
    if (typeof name !== "string" || typeof type !== "number" || typeof data !== "string") {
      throw malformed("an Answer entry lacks name, type or data");
    }
    const answer: DnsAnswer = { name: normalizeDnsName(name), type, ttl: typeof TTL === "number" ? TTL : 0 };
    if (type === DNS_TYPE_TXT) answer.text = txtData(data);
    else if (type === DNS_TYPE_CNAME) answer.target = normalizeDnsName(data);
    answers.push(answer);
  }
  return { rcode: Status, truncated: TC === true, answers };
}

/**
 * TXT `data` in presentation form: Cloudflare sends `"\"abc\""` and `"\"part1\" \"part2\""` for a
 * record split into several character-strings; Google sends the text unquoted. Quoted strings are
 * unescaped (`\"`, `\\`, `\DDD`, RFC 1035 §5.1) and joined; anything else is taken as it is.
 */
export function txtData(data: string): string {
  const trimmed = data.trim();
  if (!trimmed.startsWith('"')) return data;
  const bytes: number[] = [];
  let i = 0;
  while (i < trimmed.length) {
    if (trimmed[i] !== '"') return data; // not a sequence of quoted strings after all
    i++;
    for (;;) {
      if (i >= trimmed.length) return data; // unterminated
      const c = trimmed[i]!;
      if (c === '"') {
        i++;
        break;
      }
      if (c === "\\") {
        const digits = /^\d{3}/.exec(trimmed.slice(i + 1, i + 4));
        if (digits && Number(digits[0]) < 256) {
          bytes.push(Number(digits[0]));
          i += 4;
        } else if (i + 1 < trimmed.length) {
          pushUtf8(bytes, trimmed[i + 1]!);
          i += 2;
        } else return data;
        continue;
      }
      const char = String.fromCodePoint(trimmed.codePointAt(i)!);
      pushUtf8(bytes, char);
      i += char.length;
    }
    while (i < trimmed.length && /\s/.test(trimmed[i]!)) i++;
  }
  return new TextDecoder("utf-8").decode(Uint8Array.from(bytes));
}

const encoder = new TextEncoder();
function pushUtf8(bytes: number[], char: string): void {
  for (const b of encoder.encode(char)) bytes.push(b);
}
