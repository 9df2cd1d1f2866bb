import { describe, expect, it } from "vitest";
import { keys } from "../../src/manager/storage-keys.ts";
import { EncryptedStorage } from "../../src/storage/encrypted-storage.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { expectCode } from "./conformance.ts";

// EncryptedStorage's lifecycle: on over clear data, rotation, off; and what the default seals.
const OLD = "the old secret, 32 characters ok";
const NEW = "a brand new secret, also long enough";
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe("EncryptedStorage lifecycle", () => {
  it("the default seals the manager's key-bearing records: accounts/, certificates/, orders/, names/", async () => {
    const inner = new MemoryStorage();
    const s = new EncryptedStorage(inner, { secret: NEW });
    // The manager's key layout (src/manager/storage-keys.ts): every one of these can hold a private key.
    const pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    for (const key of [keys.account("ca", undefined), keys.certificate("x"), keys.order("x"), keys.nameIndex("x.example")]) await s.put(key, pem);
    const stored = (await inner.list("")).keys;
    expect(stored).toHaveLength(4);
    for (const key of stored) {
      const raw = (await inner.get(key))!;
      expect(raw[0], key).toBe(1);
      expect(text(raw), key).not.toContain("PRIVATE KEY");
    }
  });

  it("in migration mode reads clear values written before encryption was on, and seals them on write or reseal", async () => {
    const inner = new MemoryStorage();
    await inner.put("certificates/a.json", '{"keyPem":"A"}');
    await inner.put("certificates/b.json", '{"keyPem":"B"}');
    // Without the mode, a clear value is refused, and reseal does not seal it into a record.
    const strict = new EncryptedStorage(inner, { secret: NEW });
    await expectCode(strict.get("certificates/a.json"), "storage");
    await expectCode(strict.reseal("certificates/a.json"), "storage");
    expect(text(await inner.get("certificates/a.json"))).toBe('{"keyPem":"A"}');
    const s = new EncryptedStorage(inner, { secret: NEW, readPlaintext: true });
    expect(text(await s.get("certificates/a.json"))).toBe('{"keyPem":"A"}');
    await s.put("certificates/a.json", '{"keyPem":"A2"}');
    expect((await inner.get("certificates/a.json"))![0]).toBe(1);
    expect(await s.reseal("certificates/a.json")).toBe("current");
    expect(await s.reseal("certificates/b.json")).toBe("sealed-plaintext");
    expect(text(await inner.get("certificates/b.json"))).not.toContain("keyPem");
    expect(text(await s.get("certificates/b.json"))).toBe('{"keyPem":"B"}');
    expect(await s.reseal("missing.json")).toBe("absent");
    // Once all is sealed, the mode goes off (the default) and clear values are refused.
    await inner.put("certificates/c.json", "planted");
    await expectCode(new EncryptedStorage(inner, { secret: NEW }).get("certificates/c.json"), "storage");
  });

  it("rotates: the previous secret opens, reseal moves values to the new one, then the old one can go", async () => {
    const inner = new MemoryStorage();
    await new EncryptedStorage(inner, { secret: OLD, keyId: "old" }).put("orders/o.json", "order");
    const rotating = new EncryptedStorage(inner, { secret: NEW, keyId: "new", previousSecrets: [{ keyId: "old", secret: OLD }] });
    expect(text(await rotating.get("orders/o.json"))).toBe("order");
    expect(await rotating.reseal("orders/o.json")).toBe("sealed-previous");
    expect(text(await new EncryptedStorage(inner, { secret: NEW, keyId: "new" }).get("orders/o.json"))).toBe("order");
    await expectCode(new EncryptedStorage(inner, { secret: OLD, keyId: "old" }).get("orders/o.json"), "storage");
  });

  it("turns off only with the old secret given: values are opened and written back in clear", async () => {
    const inner = new MemoryStorage();
    await new EncryptedStorage(inner, { secret: OLD }).put("accounts/a.json", "account");
    expect(() => new EncryptedStorage(inner, {})).toThrow(/needs a secret/);
    const off = new EncryptedStorage(inner, { previousSecrets: [{ keyId: "1", secret: OLD }] });
    expect(text(await off.get("accounts/a.json"))).toBe("account");
    expect(await off.reseal("accounts/a.json")).toBe("unsealed");
    expect(text(await inner.get("accounts/a.json"))).toBe("account");
    await off.put("accounts/b.json", "clear");
    expect(text(await inner.get("accounts/b.json"))).toBe("clear");
    expect(await off.reseal("accounts/b.json")).toBe("clear");
  });

  it("reseal never puts back an older value: a write between its read and its write makes it a conflict, and the newer value stays", async () => {
    const inner = new MemoryStorage();
    await inner.put("certificates/a.json", '{"serial":"old"}');
    const s = new EncryptedStorage(inner, { secret: NEW, readPlaintext: true });
    // A writer (e.g. a renewal) lands right after reseal read the record.
    const racing: Storage = {
      get: (key) => inner.get(key),
      getEntry: async (key) => {
        const entry = await inner.getEntry(key);
        await s.put(key, '{"serial":"new"}');
        return entry;
      },
      put: (key, value, when) => inner.put(key, value, when),
      delete: (key, when) => inner.delete(key, when),
      list: (prefix, options) => inner.list(prefix, options),
      lock: (name, options) => inner.lock(name, options),
    };
    const resealing = new EncryptedStorage(racing, { secret: NEW, readPlaintext: true });
    await expectCode(resealing.reseal("certificates/a.json"), "conflict");
    expect(text(await s.get("certificates/a.json"))).toBe('{"serial":"new"}');
  });
});
