/**
 * The packed Public Suffix List answers as the whole list does. A reference implementation of the list's
 * own algorithm (https://publicsuffix.org/list/, "Formal algorithm": every matching rule, an exception
 * first, else the rule of most labels, else the default rule `*`) runs over every rule of the list, ICANN
 * and private sections (Let's Encrypt counts registered domains by both) — one-label rules included —
 * and edgecert's registeredDomain runs over the packed form
 * scripts/update-public-suffixes.ts makes of the same list. They must agree for every rule (as a name,
 * and with one and two labels more) and for seeded random names built from the list's labels. The
 * ICANN section alone (the generator's --icann-only) is checked the same way over every rule.
 *
 * The list is Debian's `publicsuffix` package (a test system package). When it is the copy the built-in
 * data was generated from, the built-in rules must be exactly the list's; a newer copy only prints that
 * the data can be regenerated.
 *
 * EDGECERT_PSL_RANDOM_NAMES (default 20000) random names, EDGECERT_PSL_SEED to replay.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PACKED_PUBLIC_SUFFIXES, PUBLIC_SUFFIX_LIST_SECTIONS, PUBLIC_SUFFIX_LIST_VERSION } from "../../src/budget/public-suffix-data.ts";
import { registeredDomain, registeredDomainBy, unpackPublicSuffixes } from "../../src/budget/registered-domain.ts";
import { DEBIAN_LIST, packPublicSuffixes, publicSuffixRules } from "../../scripts/update-public-suffixes.ts";
import { seededRandom } from "../support/seeded-random.ts";

const RANDOM_NAMES = Number(process.env.EDGECERT_PSL_RANDOM_NAMES ?? 20_000);
const SEED = Number(process.env.EDGECERT_PSL_SEED ?? Math.floor(Math.random() * 2 ** 31));

const listText = readFileSync(DEBIAN_LIST, "utf8");
const list = publicSuffixRules(listText);
const icann = publicSuffixRules(listText, "icann");

/**
 * The list's formal algorithm, rule by rule: the registrable domain of `name`. Rules are only grouped by
 * their last label (no rule has a wildcard there), so a name is matched against its top-level domain's.
 */
function referenceOver(rules: readonly string[]): (name: string) => string {
  const byTld = new Map<string, { exception: boolean; labels: string[] }[]>();
  for (const rule of rules) {
    const labels = rule.replace(/^!/, "").split(".");
    const tld = labels[labels.length - 1]!;
    byTld.set(tld, [...(byTld.get(tld) ?? []), { exception: rule.startsWith("!"), labels }]);
  }
  return (name) => {
    const labels = name.split(".");
    const matching = (byTld.get(labels[labels.length - 1]!) ?? []).filter(
      (r) => r.labels.length <= labels.length && r.labels.every((l, i) => l === "*" || l === labels[labels.length - r.labels.length + i]),
    );
    const exception = matching.find((r) => r.exception);
    // No match: the default rule `*`, one label.
    const prevailing = exception ?? matching.reduce((a, b) => (b.labels.length > a.labels.length ? b : a), { exception: false, labels: ["*"] });
    // An exception's public suffix is the rule less its leftmost label.
    const suffixLabels = prevailing.labels.length - (exception ? 1 : 0);
    // A name that is itself a public suffix counts as itself (registeredDomain's contract).
    return labels.length <= suffixLabels ? name : labels.slice(-(suffixLabels + 1)).join(".");
  };
}

/** Every rule of `rules` as a name, and with one and two labels more (a wildcard's `*` as `x`). */
function ruleNames(rules: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const rule of rules) {
    const base = rule.replace(/^!/, "").replace(/^\*\./, "x.");
    for (const n of [base, `a.${base}`, `b.a.${base}`]) names.add(n);
  }
  return names;
}

describe("the packed Public Suffix List", () => {
  const packed = unpackPublicSuffixes(packPublicSuffixes(list));

  it(`answers as the whole list, ICANN and private sections, for every rule and ${RANDOM_NAMES} random names (seed ${SEED})`, () => {
    expect(icann.length).toBeGreaterThan(6000);
    // The private section is there: it holds, e.g., github.io and the wildcard *.compute.amazonaws.com.
    expect(list.length).toBeGreaterThan(icann.length + 2000);
    expect(list).toEqual(expect.arrayContaining(["github.io", "workers.dev", "*.compute.amazonaws.com"]));
    expect(icann).not.toContain("github.io");
    const names = ruleNames(list);
    const random = seededRandom(SEED);
    const labels = [...new Set(list.flatMap((r) => r.replace(/^!/, "").split(".")).filter((l) => l !== "*")), "www", "x", "example"];
    const pick = () => labels[Math.floor(random() * labels.length)]!;
    // Random names ending in a rule, so they go deep into the list's groups, and fully random ones.
    for (let i = 0; i < RANDOM_NAMES; i++) {
      const tail = random() < 0.7 ? list[Math.floor(random() * list.length)]!.replace(/^!/, "").replace(/^\*\./, `${pick()}.`) : pick();
      names.add([...Array.from({ length: Math.floor(random() * 3) }, pick), tail].join("."));
    }
    const reference = referenceOver(list);
    let checked = 0;
    for (const name of names) {
      expect(registeredDomainBy(packed, name), `${name} (seed ${SEED})`).toBe(reference(name));
      checked++;
    }
    console.log(`PSL: ${list.length} rules (${icann.length} ICANN); ${checked} names agree with the formal algorithm (seed ${SEED})`);
  });

  it("packed from the ICANN section alone (--icann-only), answers as that section for every rule, and the private section decides", () => {
    const icannPacked = unpackPublicSuffixes(packPublicSuffixes(icann));
    const reference = referenceOver(icann);
    const names = ruleNames(icann);
    for (const name of names) expect(registeredDomainBy(icannPacked, name), name).toBe(reference(name));
    // Names whose registered domain the private section changes: one bucket by the ICANN section, two by the whole list.
    for (const [a, b] of [
      ["u1.github.io", "u2.github.io"],
      ["x.workers.dev", "y.workers.dev"],
      ["a.b.compute.amazonaws.com", "c.b.compute.amazonaws.com"],
    ]) {
      expect(registeredDomainBy(icannPacked, a!)).toBe(registeredDomainBy(icannPacked, b!));
      expect(registeredDomainBy(packed, a!)).not.toBe(registeredDomainBy(packed, b!));
      expect(registeredDomainBy(packed, a!)).toBe(referenceOver(list)(a!));
    }
    console.log(`PSL ICANN section alone: ${icann.length} rules; ${names.size} names agree with the formal algorithm`);
  });

  it("the built-in rules are the list they were generated from (when the system's copy is that one)", () => {
    let system = "unknown";
    try {
      system = `debian-publicsuffix-${execFileSync("dpkg-query", ["-W", "-f=${Version}", "publicsuffix"], { encoding: "utf8" })}`;
    } catch {
      // Not Debian: the version cannot be told, so the exact comparison is skipped below.
    }
    // Built from both sections (scripts/update-public-suffixes.ts without --icann-only), as Let's Encrypt counts.
    expect(PUBLIC_SUFFIX_LIST_SECTIONS).toBe("all");
    if (system !== PUBLIC_SUFFIX_LIST_VERSION) {
      console.log(`built-in Public Suffix List ${PUBLIC_SUFFIX_LIST_VERSION}, this system's ${system}: regenerate with scripts/update-public-suffixes.ts`);
      return;
    }
    const builtIn = unpackPublicSuffixes(PACKED_PUBLIC_SUFFIXES);
    expect([...builtIn.rules].sort()).toEqual([...packed.rules].sort());
    expect([...builtIn.exceptions].sort()).toEqual([...packed.exceptions].sort());
    for (const name of ["a.b.city.kawasaki.jp", "www.u1.github.io", "a.b.compute.amazonaws.com"]) expect(registeredDomain(name)).toBe(referenceOver(list)(name));
  });
});
