/**
 * Bad CA limits get a clear typed error naming the field, where they are given (issue 26, review): the
 * manager's `caLimits` option, a `FleetBudget` (the Worker's CaBudgetQueue builds one from the limits
 * each call brings), and the text of `CA_LIMITS` / `EDGECERT_CA_LIMITS`. Before, a limits object was
 * taken as it came: a count of 0 held every order forever (or, with a wait bound, crashed the process:
 * an uncaught RangeError 'Invalid time value' building the BudgetSpentError in the queue's settle
 * callback), a NaN count or period let every order through
 * unbudgeted (NaN compares false), a typo'd key (`newOrdersPerAcount`) silently enforced no limit at
 * all, and the text accepted a period of 400 digits (Infinity) and a key given twice (the last won).
 */
import { describe, expect, it } from "vitest";
import { parseCaLimits, type CaLimits } from "../../src/budget/ca-limits.ts";
import { FleetBudget } from "../../src/budget/fleet-budget.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { CertificateManager } from "../../src/manager/certificate-manager.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";

const HOUR = 3_600_000;

/** The error `make` throws, or undefined. */
function thrown(make: () => unknown): unknown {
  try {
    make();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Limits as a JavaScript config file or JSON would give them: any shape. */
const bad: Array<[string, unknown, string]> = [
  ["a count of 0", { newOrdersPerAccount: { count: 0, periodMs: 3 * HOUR } }, "newOrdersPerAccount.count"],
  ["a negative count", { certificatesPerRegisteredDomain: { count: -50, periodMs: 7 * 24 * HOUR } }, "certificatesPerRegisteredDomain.count"],
  ["a NaN count", { certificatesPerNameSet: { count: NaN, periodMs: HOUR } }, "certificatesPerNameSet.count"],
  ["a fractional count", { newOrdersPerAccount: { count: 2.5, periodMs: HOUR } }, "newOrdersPerAccount.count"],
  ["a count as text", { newOrdersPerAccount: { count: "300", periodMs: 3 * HOUR } }, "newOrdersPerAccount.count"],
  ["a count beyond a safe integer", { newOrdersPerAccount: { count: 1e300, periodMs: HOUR } }, "newOrdersPerAccount.count"],
  ["a period of 0", { newOrdersPerAccount: { count: 300, periodMs: 0 } }, "newOrdersPerAccount.periodMs"],
  ["a NaN period", { newOrdersPerAccount: { count: 300, periodMs: NaN } }, "newOrdersPerAccount.periodMs"],
  ["an infinite period", { newOrdersPerAccount: { count: 300, periodMs: Infinity } }, "newOrdersPerAccount.periodMs"],
  ["a period of 30,000 years", { newOrdersPerAccount: { count: 300, periodMs: 1e15 } }, "newOrdersPerAccount.periodMs"],
  ["a limit that is no object", { newOrdersPerAccount: 300 }, "newOrdersPerAccount"],
  ["a misspelt limit", { newOrdersPerAcount: { count: 300, periodMs: 3 * HOUR } }, "newOrdersPerAcount"],
  ["replacementsExempt as text", { replacementsExempt: "yes" }, "replacementsExempt"],
  ["a public suffix that is no domain", { publicSuffixes: ["my platform.app"] }, "publicSuffixes"],
  ["publicSuffixes as one string", { publicSuffixes: "myplatform.app" }, "publicSuffixes"],
];

describe("CA limits given as an object", () => {
  it.each(bad)("%s: the manager refuses them at construction, naming the field", (_label, limits, field) => {
    const err = thrown(
      () => new CertificateManager({ storage: new MemoryStorage(), directoryUrl: "https://ca.limits.test/dir", termsOfServiceAgreed: true, caLimits: limits as CaLimits }),
    );
    expect(isEdgecertError(err, "invalid_input"), String(err)).toBe(true);
    expect((err as Error).message).toContain(`caLimits.${field}`);
  });

  it.each(bad)("%s: a FleetBudget refuses them too", (_label, limits, field) => {
    const err = thrown(() => new FleetBudget({ storage: new MemoryStorage(), limits: limits as CaLimits, ca: "ca" }));
    expect(isEdgecertError(err, "invalid_input"), String(err)).toBe(true);
    expect((err as Error).message).toContain(field);
  });

  it("takes good limits as they are (Let's Encrypt's, a partial set, none, false)", () => {
    const storage = new MemoryStorage();
    for (const caLimits of [{ newOrdersPerAccount: { count: 300, periodMs: 3 * HOUR }, replacementsExempt: true, publicSuffixes: ["myplatform.app"] }, {}, false as const]) {
      expect(() => new CertificateManager({ storage, directoryUrl: "https://ca.limits.test/dir", termsOfServiceAgreed: true, caLimits })).not.toThrow();
    }
  });
});

describe("CA limits given as text (CA_LIMITS, EDGECERT_CA_LIMITS)", () => {
  it.each([
    ["a period of 400 digits (Infinity)", `orders=1/${"9".repeat(400)}d`, "orders"],
    ["a period of 27,000 years", "orders=300/9999999d", "orders"],
    ["a count beyond a safe integer", `domain=${"9".repeat(20)}/7d`, "domain"],
    ["a key given twice", "orders=300/3h, domain=50/7d, orders=5/1h", "orders"],
    ["replaces given twice", "replaces=exempt,replaces=counted", "replaces"],
  ])("%s is refused naming the part", (_label, text, key) => {
    const err = thrown(() => parseCaLimits(text));
    expect(isEdgecertError(err, "invalid_input"), String(err)).toBe(true);
    expect((err as Error).message).toContain(key);
  });
});
