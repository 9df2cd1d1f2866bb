import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDnsPersistRecords, dnsPersistRecordsFor } from "../../src/acme/dns-persist/index.ts";
import { startDohServer, type DohServer } from "../support/doh-server.ts";
import { startPebble, type PebbleInstance } from "../support/pebble.ts";

// Real DNS: records live in pebble-challtestsrv and are read through a local RFC 8484 endpoint.
let pebble: PebbleInstance;
let doh: DohServer;
const ISSUER = "authority.example";
const ACCOUNT = "https://ca.example/acct/123";
const NOW = Date.UTC(2026, 11, 2);

beforeAll(async () => {
  pebble = await startPebble();
  doh = await startDohServer(pebble.dnsPort);
});
afterAll(async () => {
  await doh?.close();
  await pebble?.stop();
});

const check = (names: string[], format: "wire" | "json" = "wire") =>
  checkDnsPersistRecords({ names, accountUri: ACCOUNT, issuerDomainNames: [ISSUER, "ca.example.net"], resolver: doh.url, format, now: () => NOW });

describe("dns-persist-01 record checker over DoH (read-only)", () => {
  it("tells present, expiring, expired, wrong and missing apart, with the record to create", async () => {
    const [wild] = dnsPersistRecordsFor({ names: ["*.good.test", "good.test"], accountUri: ACCOUNT, issuerDomainName: ISSUER });
    await pebble.setTxt(wild!.name, wild!.value);
    // Another CA's record beside ours is ignored.
    await pebble.setTxt(wild!.name, "other-ca.example; accounturi=https://other.example/acct/9");
    await pebble.setTxt("_validation-persist.soon.test", `${ISSUER}; accounturi=${ACCOUNT}; persistUntil=${NOW / 1000 + 3600}`);
    await pebble.setTxt("_validation-persist.past.test", `${ISSUER}; accounturi=${ACCOUNT}; persistUntil=${NOW / 1000 - 1}`);
    await pebble.setTxt("_validation-persist.other-account.test", `${ISSUER}; accounturi=https://ca.example/acct/999`);
    await pebble.setTxt("_validation-persist.no-policy.test", `${ISSUER}; accounturi=${ACCOUNT}`);
    await pebble.setTxt("_validation-persist.bad.test", `${ISSUER}; accounturi=${ACCOUNT}; persistUntil=tomorrow`);
    await pebble.setTxt("_validation-persist.foreign.test", `other-ca.example; accounturi=${ACCOUNT}`);

    const names = ["*.good.test", "good.test", "www.good.test", "soon.test", "past.test", "other-account.test", "*.no-policy.test", "bad.test", "missing.test", "foreign.test"];
    for (const format of ["wire", "json"] as const) {
      const reports = await check(names, format);
      const status = Object.fromEntries(reports.map((r) => [r.name, r.status]));
      expect(status, format).toEqual({
        "*.good.test": "present",
        "good.test": "present",
        // A subdomain is covered by the parent's policy=wildcard record (§6.1).
        "www.good.test": "present",
        "soon.test": "expiring",
        "past.test": "expired",
        "other-account.test": "wrong",
        "*.no-policy.test": "wrong",
        "bad.test": "wrong",
        "missing.test": "missing",
        "foreign.test": "missing",
      });
      const www = reports.find((r) => r.name === "www.good.test")!;
      expect(www.foundAt).toBe("_validation-persist.good.test");
      const noPolicy = reports.find((r) => r.name === "*.no-policy.test")!;
      expect(noPolicy.rejections[0]!.problem).toBe("needs_wildcard_policy");
      expect(noPolicy.expected).toMatchObject({ name: "_validation-persist.no-policy.test", value: `${ISSUER}; accounturi=${ACCOUNT}; policy=wildcard` });
      expect(reports.find((r) => r.name === "missing.test")!.expected.zoneFileLine).toBe(`_validation-persist.missing.test. IN TXT "${ISSUER}; accounturi=${ACCOUNT}"`);
    }
    // Read-only: only GET queries were made.
    expect(doh.requests.every((r) => r.method === "GET")).toBe(true);
  });
  // Records over 255 octets: challtestsrv cannot serve a TXT string that long (it fails the answer), so the
  // splitting is covered in rules.test.ts and the joining of character-strings in test/dns/wire-format.test.ts.
});
