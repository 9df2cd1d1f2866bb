import { EdgecertError } from "../errors.ts";
import type { AcmeIdentifier } from "./types.ts";

/** A name that cannot be an ACME identifier; `identifier` is the offending input. */
export class InvalidIdentifierError extends EdgecertError {
  /** The identifier as given. */
  readonly identifier: string;
  /**
   * An identifier that cannot be ordered, and why.
   * @param identifier The value refused.
   * @param reason Why, in words.
   */
  constructor(identifier: string, reason: string) {
    super("invalid_identifier", `invalid identifier ${JSON.stringify(identifier)}: ${reason}`);
    this.name = "InvalidIdentifierError";
    this.identifier = identifier;
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Canonical text of an IPv6 address (RFC 5952), or null when `text` is not one. */
function canonicalIpv6(text: string): string | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return null;
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}

/** True when `value` is an IPv4 or IPv6 address literal. */
export function isIpAddress(value: string): boolean {
  return IPV4.test(value) || canonicalIpv6(value) !== null;
}

/**
 * Turns a caller-supplied name into an ACME identifier: IP literals become `ip` identifiers in canonical
 * form (RFC 8738 §3); DNS names are lower-cased, stripped of a trailing dot and converted from Unicode to
 * A-labels (RFC 5891), then checked (RFC 1035 §2.3.4 lengths, LDH labels, a wildcard only as the whole
 * leftmost label per RFC 8555 §7.1.3). Throws {@link InvalidIdentifierError} naming the bad input.
 */
export function toIdentifier(name: string | AcmeIdentifier): AcmeIdentifier {
  if (typeof name === "object" && name !== null) {
    if (name.type === "ip") {
      const id = toIdentifier(name.value);
      if (id.type !== "ip") throw new InvalidIdentifierError(name.value, "not an IP address");
      return id;
    }
    if (name.type !== "dns") throw new InvalidIdentifierError(String(name.value), `unsupported identifier type ${String(name.type)}`);
    name = name.value;
  }
  if (typeof name !== "string") throw new InvalidIdentifierError(String(name), "not a string");
  const raw = name.trim();
  if (IPV4.test(raw)) return { type: "ip", value: raw };
  const v6 = canonicalIpv6(raw.replace(/^\[|\]$/g, ""));
  if (v6 !== null) return { type: "ip", value: v6 };
  return { type: "dns", value: normalizeDnsName(name) };
}

function normalizeDnsName(input: string): string {
  let name = input.trim().toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name === "") throw new InvalidIdentifierError(input, "empty name");
  let wildcard = false;
  if (name.startsWith("*.")) {
    wildcard = true;
    name = name.slice(2);
  }
  if (name.includes("*")) throw new InvalidIdentifierError(input, "a wildcard must be the whole leftmost label");
  let ascii = name;
  if (/[^\x00-\x7f]/.test(name)) {
    try {
      // The URL parser applies UTS #46 / IDNA processing: the same A-label a browser would use.
      ascii = new URL(`http://${name}/`).hostname;
    } catch {
      throw new InvalidIdentifierError(input, "not a valid internationalized domain name");
    }
  }
  const labels = ascii.split(".");
  if (labels.length < 2) throw new InvalidIdentifierError(input, "a certificate name needs at least two labels");
  for (const label of labels) {
    if (!LABEL.test(label)) throw new InvalidIdentifierError(input, `label ${JSON.stringify(label)} is not a valid DNS label`);
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) throw new InvalidIdentifierError(input, "the top-level label is numeric");
  const full = (wildcard ? "*." : "") + ascii;
  if (full.length > 253) throw new InvalidIdentifierError(input, "longer than 253 characters");
  return full;
}

/** Converts and de-duplicates a list of names, keeping the caller's order. */
export function toIdentifiers(names: ReadonlyArray<string | AcmeIdentifier>): AcmeIdentifier[] {
  if (!Array.isArray(names) || names.length === 0) throw new EdgecertError("invalid_input", "at least one name is required");
  const seen = new Set<string>();
  const out: AcmeIdentifier[] = [];
  for (const n of names) {
    const id = toIdentifier(n);
    const key = `${id.type}:${id.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(id);
    }
  }
  return out;
}

/** Whether two identifier lists name the same set (order and duplicates aside). */
export function sameIdentifiers(a: readonly AcmeIdentifier[], b: readonly AcmeIdentifier[]): boolean {
  const key = (i: AcmeIdentifier) => `${i.type}:${i.value}`;
  const left = new Set(a.map(key));
  const right = new Set(b.map(key));
  return left.size === right.size && [...right].every((k) => left.has(k));
}
