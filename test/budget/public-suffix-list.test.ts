/**
 * The packed Public Suffix List answers as the whole list does. A reference implementation of the list's
 * own algorithm (https://publicsuffix.org/list/, "Formal algorithm": every matching rule, an exception
 * first, else the rule of most labels, else the default rule `*`) runs over every rule of the ICANN
 * section — one-label rules included — and edgecert's registeredDomain runs over the packed form
 * scripts/update-public-suffixes.ts makes of the same list. They must agree for every rule (as a name,
 * and with one and two labels more) and for seeded random names built from the list's labels.
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
import { PACKED_PUBLIC_SUFFIXES, PUBLIC_SUFFIX_LIST_VERSION } from "../../src/budget/public-suffix-data.ts";
import { registeredDomain, registeredDomainBy, unpackPublicSuffixes } from "../../src/budget/registered-domain.ts";
import { DEBIAN_LIST, icannRules, packPublicSuffixes } from "../../scripts/update-public-suffixes.ts";
import { seededRandom } from "../support/seeded-random.ts";

const RANDOM_NAMES = Number(process.env.EDGECERT_PSL_RANDOM_NAMES ?? 20_000);
const SEED = Number(process.env.EDGECERT_PSL_SEED ?? Math.floor(Math.random() * 2 ** 31));

const list = icannRules(readFileSync(DEBIAN_LIST, "utf8"));

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

describe("the packed Public Suffix List", () => {
  const packed = unpackPublicSuffixes(packPublicSuffixes(list));

  it(`answers as the whole ICANN list for every rule and ${RANDOM_NAMES} random names (seed ${SEED})`, () => {
    expect(list.length).toBeGreaterThan(6000);
    const names = new Set<string>();
    for (const rule of list) {
      const base = rule.replace(/^!/, "").replace(/^\*\./, "x.");
      for (const n of [base, `a.${base}`, `b.a.${base}`]) names.add(n);
    }
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
    console.log(`PSL: ${list.length} rules; ${checked} names agree with the formal algorithm (seed ${SEED})`);
  });

  it("the built-in rules are the list they were generated from (when the system's copy is that one)", () => {
    let system = "unknown";
    try {
      system = `debian-publicsuffix-${execFileSync("dpkg-query", ["-W", "-f=${Version}", "publicsuffix"], { encoding: "utf8" })}`;
    } catch {
      // Not Debian: the version cannot be told, so the exact comparison is skipped below.
    }
    if (system !== PUBLIC_SUFFIX_LIST_VERSION) {
      console.log(`built-in Public Suffix List ${PUBLIC_SUFFIX_LIST_VERSION}, this system's ${system}: regenerate with scripts/update-public-suffixes.ts`);
      return;
    }
    const builtIn = unpackPublicSuffixes(PACKED_PUBLIC_SUFFIXES);
    expect([...builtIn.rules].sort()).toEqual([...packed.rules].sort());
    expect([...builtIn.exceptions].sort()).toEqual([...packed.exceptions].sort());
    expect(registeredDomain("a.b.city.kawasaki.jp")).toBe(referenceOver(list)("a.b.city.kawasaki.jp"));
  });
});
