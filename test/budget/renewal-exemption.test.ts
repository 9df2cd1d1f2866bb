/**
 * A renewal without ARI `replaces` spends what Let's Encrypt spends (issue 26, review). Boulder's
 * newOrder (wfe2 NewOrder: FQDNSetTimestampsForWindow over 120 days, then checkNewOrderLimits with
 * isRenewal) treats an order for the exact set of identifiers of a certificate issued in the last 120
 * days as a renewal: exempt from New Orders per Account and Certificates per Registered Domain, still
 * under New Certificates per Exact Set of Identifiers. The budget spent all three for it: the order
 * sent again without `replaces` after `alreadyReplaced`, a renewal of a certificate without an ARI id
 * (stored before ARI, or the CA's directory showed no renewalInfo) — so a customer with many names
 * renewing that way waited for its registered domain's 50 a week, and every such renewal took an
 * account token first issuances needed.
 */
import { describe, expect, it } from "vitest";
import { LETS_ENCRYPT_LIMITS, parseCaLimits } from "../../src/budget/ca-limits.ts";
import { silentLogger } from "../../src/logger.ts";
import { CaBudgets } from "../../src/manager/ca-budgets.ts";
import { OrderSpends } from "../../src/manager/order-spends.ts";
import { renewsSameNames } from "../../src/manager/renewal-exemption.ts";
import type { CertificateRecord } from "../../src/manager/records.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";

const DAY = 86_400_000;
const CA = "https://acme-v02.api.letsencrypt.org/directory";
const ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/1";
const NOW = Date.UTC(2026, 11, 6, 12);

function setup() {
  const budgets = new CaBudgets({ storage: new MemoryStorage(), primary: CA, caLimits: undefined, now: () => NOW, logger: silentLogger, onQueued: () => undefined, maxWaitMs: 1000 });
  const budget = budgets.for(CA)!.budget;
  const spent = async (request: { account: string; nameSetId: string }, domain: string) => {
    const n = async (kind: "orders" | "domain" | "nameset", subject: string) => (await budget.state((await budget.bucket(kind, subject))!))?.n ?? 0;
    return { orders: await n("orders", request.account), domain: await n("domain", domain), nameset: await n("nameset", request.nameSetId) };
  };
  return { budgets, spent };
}

const record = (names: string[], notBefore: number, directoryUrl = CA) =>
  ({ identifiers: names.map((value) => ({ type: "dns", value })), directoryUrl, notBefore: new Date(notBefore).toISOString() }) as CertificateRecord;

describe("a renewal of the exact name set spends only the name set's bucket where the CA exempts it", () => {
  it("Let's Encrypt's limits say so, and the text can (renewals=exempt|counted)", () => {
    expect(LETS_ENCRYPT_LIMITS.renewalsExempt).toBe(true);
    expect(parseCaLimits("orders=300/3h,renewals=exempt").renewalsExempt).toBe(true);
    expect(parseCaLimits("orders=300/3h,renewals=counted").renewalsExempt).toBe(false);
  });

  it("a renewal without `replaces` spends the name set only (old code: the account's and the domain's too)", async () => {
    const { budgets, spent } = setup();
    const request = { id: "c1", account: ACCOUNT, names: ["www.shop.example"], nameSetId: "c1", replaces: false, renewal: true, expiresAt: NOW + 20 * DAY };
    await budgets.admit(CA, request);
    expect(await spent(request, "shop.example")).toEqual({ orders: 0, domain: 0, nameset: 1 });
  });

  it("the order sent again without `replaces` after alreadyReplaced spends the name set only", async () => {
    const { budgets, spent } = setup();
    const renewal = { id: "c2", account: ACCOUNT, names: ["api.shop.example"], nameSetId: "c2", replaces: true, renewal: true, expiresAt: NOW + 20 * DAY };
    const admitted = await budgets.admit(CA, renewal);
    const spends = new OrderSpends(budgets, CA, renewal, admitted, () => NOW, undefined);
    await spends.beforeNewOrder({ attempt: 1, replaces: true });
    expect(await spent(renewal, "shop.example")).toEqual({ orders: 0, domain: 0, nameset: 0 });
    await spends.beforeNewOrder({ attempt: 1, replaces: false });
    expect(await spent(renewal, "shop.example")).toEqual({ orders: 0, domain: 0, nameset: 1 });
  });

  it("a first issuance still spends every bucket", async () => {
    const { budgets, spent } = setup();
    const request = { id: "c3", account: ACCOUNT, names: ["new.shop.example"], nameSetId: "c3" };
    await budgets.admit(CA, request);
    expect(await spent(request, "shop.example")).toEqual({ orders: 1, domain: 1, nameset: 1 });
  });

  it("an order is a renewal when the stored certificate is this CA's, for the same names (any order, any case), issued within 120 days", () => {
    const names = [
      { type: "dns" as const, value: "www.shop.example" },
      { type: "dns" as const, value: "shop.example" },
    ];
    expect(renewsSameNames(record(["shop.example", "WWW.shop.example"], NOW - 60 * DAY), names, CA, NOW)).toBe(true);
    expect(renewsSameNames(record(["shop.example", "www.shop.example"], NOW - 121 * DAY), names, CA, NOW)).toBe(false);
    expect(renewsSameNames(record(["shop.example"], NOW - 60 * DAY), names, CA, NOW)).toBe(false);
    expect(renewsSameNames(record(["shop.example", "www.shop.example", "api.shop.example"], NOW - 60 * DAY), names, CA, NOW)).toBe(false);
    expect(renewsSameNames(record(["shop.example", "www.shop.example"], NOW - 60 * DAY, "https://other.ca/dir"), names, CA, NOW)).toBe(false);
    expect(renewsSameNames(undefined, names, CA, NOW)).toBe(false);
  });
});
