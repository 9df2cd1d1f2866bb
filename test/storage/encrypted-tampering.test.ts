/**
 * Sealed means authenticated (issue 23 defect 8, invariant 7): with a secret, whoever can write the
 * store but not read the secret must not be able to plant a record. Over the manager's certificate,
 * account and order records, sealed by `new EncryptedStorage(storage, { secret })` as the Worker and
 * the library set it up, every tampering below must make `get` and `getEntry` fail with
 * `EdgecertError("storage")`, never return bytes. On the old default (clear values read as they are),
 * 12 of these 33 were returned as data: the plain JSON substitute, the emptied value, the flipped
 * format-version byte and the flipped key-id length byte, for each record.
 */
import { describe, expect, it } from "vitest";
import { keys } from "../../src/manager/storage-keys.ts";
import { EncryptedStorage } from "../../src/storage/encrypted-storage.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { isEdgecertError } from "../../src/errors.ts";

const SECRET = "the operator's secret, 32 chars.";
const RECORDS = {
  certificate: { key: keys.certificate("shop.example-1a2b"), value: { id: "shop.example-1a2b", names: ["shop.example"], keyPem: "-----BEGIN PRIVATE KEY-----\nREAL\n-----END PRIVATE KEY-----\n" } },
  account: { key: keys.account("acme-v02.example", "ops@shop.example"), value: { url: "https://ca.example/acct/1", keyPem: "-----BEGIN PRIVATE KEY-----\nACCOUNT\n-----END PRIVATE KEY-----\n" } },
  order: { key: keys.order("shop.example-1a2b"), value: { url: "https://ca.example/order/7", certificateKeyPem: "-----BEGIN PRIVATE KEY-----\nORDER\n-----END PRIVATE KEY-----\n" } },
};
const PLANTED = JSON.stringify({ url: "https://attacker.example/acct", keyPem: "-----BEGIN PRIVATE KEY-----\nATTACKER\n-----END PRIVATE KEY-----\n" });

/** A sealed value is [version][key id length][key id][12-byte IV][ciphertext][16-byte tag]. */
type Tampering = (sealed: Uint8Array, other: Uint8Array, foreign: Uint8Array) => Uint8Array | string;
const flip = (at: (s: Uint8Array) => number): Tampering => (sealed) => {
  const out = new Uint8Array(sealed);
  out[at(sealed)]! ^= 0x01;
  return out;
};
const TAMPERINGS: Record<string, Tampering> = {
  "plain JSON substitute": () => PLANTED,
  "emptied value": () => new Uint8Array(0),
  "format-version byte flipped": flip(() => 0),
  "key-id length byte flipped": flip(() => 1),
  "key-id byte flipped": flip(() => 2),
  "IV byte flipped": flip((s) => 2 + s[1]! + 3),
  "ciphertext byte flipped": flip((s) => 2 + s[1]! + 12 + 2),
  "tag byte flipped": flip((s) => s.length - 1),
  "truncated by one byte": (sealed) => sealed.subarray(0, sealed.length - 1),
  "sealed value moved from another record": (_sealed, other) => other,
  "sealed under another secret": (_sealed, _other, foreign) => foreign,
};

describe("EncryptedStorage: a sealed record that does not open for its key is refused, never data", () => {
  it("refuses all 33 tamperings of certificate, account and order records (11 each)", async () => {
    const inner = new MemoryStorage();
    const s = new EncryptedStorage(inner, { secret: SECRET });
    // The attacker's own store and secret: a well-formed sealed value of the same key, not under ours.
    const attackerStore = new MemoryStorage();
    const attacker = new EncryptedStorage(attackerStore, { secret: "someone else's secret, 32 chars" });
    const returned: string[] = [];
    let cases = 0;
    const names = Object.keys(RECORDS) as (keyof typeof RECORDS)[];
    for (const [i, name] of names.entries()) {
      const { key, value } = RECORDS[name];
      await s.put(key, JSON.stringify(value));
      const sealed = (await inner.get(key))!;
      const other = RECORDS[names[(i + 1) % names.length]!];
      await s.put(other.key, JSON.stringify(other.value));
      const otherSealed = (await inner.get(other.key))!;
      await attacker.put(key, PLANTED);
      const foreign = (await attackerStore.get(key))!;
      for (const [how, tamper] of Object.entries(TAMPERINGS)) {
        cases++;
        await inner.put(key, tamper(sealed, otherSealed, foreign));
        for (const read of [() => s.get(key), () => s.getEntry(key)]) {
          try {
            await read();
            returned.push(`${name}: ${how}`);
          } catch (error) {
            expect(isEdgecertError(error, "storage"), `${name}: ${how}: ${String(error)}`).toBe(true);
          }
        }
        await inner.put(key, sealed);
        expect(JSON.parse(new TextDecoder().decode(await s.get(key)))).toEqual(value);
      }
    }
    console.log(`sealed-record tampering: ${cases} cases over ${names.length} records, ${cases - new Set(returned).size} refused`);
    expect(returned).toEqual([]);
    expect(cases).toBe(33);
  });
});
