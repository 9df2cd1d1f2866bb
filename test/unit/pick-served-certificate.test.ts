import { describe, expect, it } from "vitest";
import { pickServedCertificate, rankCovering, type ServingCandidate } from "../../src/manager/index.ts";

const NOW = Date.UTC(2027, 0, 1);
const DAY = 86_400_000;
const cert = (id: string, names: string[], days: number): ServingCandidate => ({ id, names, notAfter: new Date(NOW + days * DAY) });

describe("pickServedCertificate (the one serving rule, issue 23)", () => {
  it("valid before expired, exact before wildcard, latest notAfter, smallest id", () => {
    const exactOld = cert("e-old", ["www.x.test"], 10);
    const exactNew = cert("e-new", ["www.x.test", "x.test"], 40);
    const wildcard = cert("w", ["*.x.test"], 80);
    const expired = cert("gone", ["www.x.test"], -1);
    expect(pickServedCertificate("www.x.test", [exactOld, wildcard, exactNew, expired], NOW)?.id).toBe("e-new");
    expect(pickServedCertificate("WWW.X.TEST", [wildcard, exactOld], NOW)?.id).toBe("e-old");
    expect(pickServedCertificate("www.x.test", [wildcard, expired], NOW)?.id).toBe("w");
    expect(pickServedCertificate("www.x.test", [expired], NOW)).toBeUndefined();
    // Same notAfter: the smallest id, whatever the order the candidates come in.
    const twin = cert("a-twin", ["www.x.test"], 40);
    expect(pickServedCertificate("www.x.test", [exactNew, twin], NOW)?.id).toBe("a-twin");
    expect(pickServedCertificate("www.x.test", [twin, exactNew], NOW)?.id).toBe("a-twin");
    // Expiry is at notAfter itself.
    expect(pickServedCertificate("www.x.test", [cert("edge", ["www.x.test"], 0)], NOW)).toBeUndefined();
  });

  it("a wildcard covers one whole left-most label only (RFC 6125 §6.4.3), and candidates not covering the name are ignored", () => {
    const wildcard = cert("w", ["*.x.test"], 10);
    const other = cert("o", ["y.test"], 90);
    expect(pickServedCertificate("x.test", [wildcard, other], NOW)).toBeUndefined();
    expect(pickServedCertificate("a.b.x.test", [wildcard], NOW)).toBeUndefined();
    expect(pickServedCertificate("*.x.test", [wildcard], NOW)?.id).toBe("w");
    expect(pickServedCertificate("a.x.test", [other, wildcard], NOW)?.id).toBe("w");
  });

  it("ranks the same set the same way in every order it is given (every permutation of 5)", () => {
    const set = [cert("b", ["n.x.test"], 5), cert("a", ["n.x.test"], 5), cert("w", ["*.x.test"], 50), cert("old", ["n.x.test"], -5), cert("c", ["n.x.test", "m.x.test"], 7)];
    const permutations = (xs: ServingCandidate[]): ServingCandidate[][] =>
      xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    const orders = new Set(permutations(set).map((p) => rankCovering("n.x.test", p).map((c) => c.id).join()));
    expect([...orders]).toEqual(["c,a,b,old,w"]);
    expect(pickServedCertificate("n.x.test", set, NOW)?.id).toBe("c");
  });
});
