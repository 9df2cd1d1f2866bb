import { describe, expect, it } from "vitest";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { EncryptedStorage } from "../../src/storage/encrypted-storage.ts";
import { expectCode, runStorageConformance } from "./conformance.ts";

const SECRET = "correct horse battery staple 42";
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

// Everything sealed, so the whole contract runs through encryption.
runStorageConformance("EncryptedStorage(MemoryStorage)", () => new EncryptedStorage(new MemoryStorage(), { secret: SECRET, encrypt: () => true }));

describe("EncryptedStorage", () => {
  it("seals every key by default but the public http-01 tokens", async () => {
    const inner = new MemoryStorage();
    const s = new EncryptedStorage(inner, { secret: SECRET });
    await s.put("certs/example.com/private.key", "PRIVATE");
    await s.put("accounts/a/keys/account", "ACCOUNT");
    await s.put("challenges/http-01/tok", "PUBLIC");
    for (const key of ["certs/example.com/private.key", "accounts/a/keys/account"]) {
      const raw = (await inner.get(key))!;
      expect(raw[0]).toBe(1); // format version
      expect(text(raw.subarray(2, 2 + raw[1]!))).toBe("1"); // key id
      expect(text(raw)).not.toContain("PRIVATE");
      expect(raw.length).toBe(2 + 1 + 12 + 7 + 16);
    }
    expect(text(await inner.get("challenges/http-01/tok"))).toBe("PUBLIC");
    expect(text(await s.get("certs/example.com/private.key"))).toBe("PRIVATE");
    expect(text(await s.get("accounts/a/keys/account"))).toBe("ACCOUNT");
  });

  it("takes key prefixes to choose what is sealed", async () => {
    const inner = new MemoryStorage();
    const s = new EncryptedStorage(inner, { secret: SECRET, encrypt: ["secret/"] });
    await s.put("secret/a", "x");
    await s.put("public/a.key", "y");
    expect(text(await inner.get("public/a.key"))).toBe("y");
    expect(text(await inner.get("secret/a"))).not.toBe("x");
    expect(text(await s.get("secret/a"))).toBe("x");
  });

  it("uses a fresh IV every time", async () => {
    const inner = new MemoryStorage();
    const s = new EncryptedStorage(inner, { secret: SECRET });
    await s.put("a.key", "same");
    const first = await inner.get("a.key");
    await s.put("a.key", "same");
    expect(await inner.get("a.key")).not.toEqual(first);
  });

  it("refuses, with EdgecertError(storage), anything it cannot authenticate", async () => {
    const inner = new MemoryStorage();
    // readPlaintext off: a value whose version byte was altered does not pass as clear text either.
    const s = new EncryptedStorage(inner, { secret: SECRET, readPlaintext: false });
    await s.put("a.key", "value");
    const sealed = (await inner.get("a.key"))!;

    for (let i = 0; i < sealed.length; i += 7) {
      const tampered = new Uint8Array(sealed);
      tampered[i]! ^= 0x01;
      await inner.put("a.key", tampered);
      await expectCode(s.get("a.key"), "storage");
    }
    await inner.put("a.key", sealed.subarray(0, sealed.length - 1));
    await expectCode(s.get("a.key"), "storage");
    await inner.put("a.key", new Uint8Array(0));
    await expectCode(s.get("a.key"), "storage");
    await inner.put("a.key", "written before encryption was on");
    await expectCode(s.get("a.key"), "storage");

    // Moved to another key: the key is authenticated data.
    await inner.put("b.key", sealed);
    await expectCode(s.get("b.key"), "storage");

    // Another secret, or another salt.
    await inner.put("a.key", sealed);
    expect(text(await s.get("a.key"))).toBe("value");
    await expectCode(new EncryptedStorage(inner, { secret: `${SECRET}!`, readPlaintext: false }).get("a.key"), "storage");
    await expectCode(new EncryptedStorage(inner, { secret: SECRET, salt: "other" }).get("a.key"), "storage");
    await expectCode(new EncryptedStorage(inner, { secret: SECRET, keyId: "2" }).get("a.key"), "storage");
  });

  it("reads values sealed under a previous secret after a rotation, and writes with the new one", async () => {
    const inner = new MemoryStorage();
    await new EncryptedStorage(inner, { secret: SECRET, keyId: "2024" }).put("a.key", "old");
    const rotated = new EncryptedStorage(inner, { secret: "a brand new secret value", keyId: "2025", previousSecrets: [{ keyId: "2024", secret: SECRET }] });
    expect(text(await rotated.get("a.key"))).toBe("old");
    await rotated.put("a.key", "new");
    const raw = (await inner.get("a.key"))!;
    expect(text(raw.subarray(2, 2 + raw[1]!))).toBe("2025");
    expect(text(await rotated.get("a.key"))).toBe("new");
  });

  it("rejects weak or ambiguous options with invalid_input", () => {
    const inner = new MemoryStorage();
    expect(() => new EncryptedStorage(inner, { secret: "short" })).toThrow(/at least 16/);
    expect(() => new EncryptedStorage(inner, { secret: SECRET, keyId: "" })).toThrow(/keyId/);
    expect(() => new EncryptedStorage(inner, { secret: SECRET, keyId: "x".repeat(256) })).toThrow(/keyId/);
    expect(() => new EncryptedStorage(inner, { secret: SECRET, previousSecrets: [{ keyId: "1", secret: SECRET }] })).toThrow(/twice/);
  });
});
