import { PACKED_PUBLIC_SUFFIXES } from "./public-suffix-data.ts";

/** Public suffix rules, unpacked once on first use (a Set lookup per label after that). */
export interface SuffixRules {
  /** Rules of two or more labels, e.g. `co.uk`; a wildcard rule `*.ck` is kept as `*.ck`. */
  readonly rules: Set<string>;
  /** Exception rules without their `!`, e.g. `www.ck`. */
  readonly exceptions: Set<string>;
}

let builtIn: SuffixRules | undefined;

/**
 * Unpacks rules in scripts/update-public-suffixes.ts's form: `parent:HEADS;…`, each head led by a capital
 * letter counting the characters it shares with the head before it (A = none).
 */
export function unpackPublicSuffixes(packed: string): SuffixRules {
  const rules = new Set<string>();
  const exceptions = new Set<string>();
  for (const group of packed.split(";")) {
    const colon = group.indexOf(":");
    if (colon < 0) continue;
    const parent = group.slice(0, colon);
    let head = "";
    for (const [, shared, rest] of group.slice(colon + 1).matchAll(/([A-Z])([^A-Z]*)/g)) {
      head = head.slice(0, shared!.charCodeAt(0) - 65) + rest;
      if (head.startsWith("!")) exceptions.add(`${head.slice(1)}.${parent}`);
      else rules.add(`${head}.${parent}`);
    }
  }
  return { rules, exceptions };
}

/** The rules of the copy of the list built into this package (src/budget/public-suffix-data.ts). */
export function builtInPublicSuffixes(): SuffixRules {
  builtIn ??= unpackPublicSuffixes(PACKED_PUBLIC_SUFFIXES);
  return builtIn;
}

/** IPv6 text to its first 64 bits, as 4 groups of lowercase hex (the /64 a CA counts as one domain). */
function ipv6Prefix64(address: string): string | undefined {
  const text = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return undefined;
  const [head = "", tail] = text.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  // An embedded IPv4 tail counts as two groups; the prefix is always within the first four.
  const total = front.length + back.length + back.filter((g) => g.includes(".")).length;
  const all = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - total)).fill("0"), ...back];
  if (all.length < 4) return undefined;
  return all
    .slice(0, 4)
    .map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : "?"))
    .join(":");
}

/**
 * The registered domain a CA's per-domain limit counts `name` under: the public suffix plus one label,
 * by the Public Suffix List's algorithm (https://publicsuffix.org/list/, ICANN and private sections, built
 * in, as Let's Encrypt counts: `u1.github.io` and `u2.github.io` are two; see
 * `scripts/update-public-suffixes.ts`) and any `extraSuffixes` (e.g. a platform's own suffix not yet in
 * the built-in copy, such as `myplatform.app`). A wildcard name counts as its base name. An IPv4
 * address is its own domain and an IPv6 address counts as its /64, as Let's Encrypt counts them. A
 * name that is itself a public suffix counts as itself.
 */
export function registeredDomain(name: string, extraSuffixes: ReadonlySet<string> = EMPTY): string {
  return registeredDomainBy(builtInPublicSuffixes(), name, extraSuffixes);
}

/** {@link registeredDomain} by the given rules instead of the built-in list. */
export function registeredDomainBy({ rules, exceptions }: SuffixRules, name: string, extraSuffixes: ReadonlySet<string> = EMPTY): string {
  const lower = name.trim().toLowerCase().replace(/\.$/, "");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(lower)) return lower;
  const v6 = ipv6Prefix64(lower);
  if (v6 !== undefined) return `${v6}::/64`;
  const base = lower.startsWith("*.") ? lower.slice(2) : lower;
  const labels = base.split(".");
  // Longest match first: an exception is one label longer than its wildcard, so it is seen first.
  for (let i = 0; i < labels.length - 1; i++) {
    const suffix = labels.slice(i).join(".");
    // An exception rule's public suffix is the rule less its first label: the suffix itself is registered.
    if (exceptions.has(suffix)) return suffix;
    const wildcard = `*.${labels.slice(i + 1).join(".")}`;
    if (rules.has(suffix) || extraSuffixes.has(suffix) || rules.has(wildcard)) return i === 0 ? suffix : labels.slice(i - 1).join(".");
  }
  // The default rule `*`: the top-level label is the public suffix.
  return labels.length >= 2 ? labels.slice(-2).join(".") : base;
}

const EMPTY: ReadonlySet<string> = new Set();
