import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { EncryptedStorage, KvStorage, R2Storage, readJson, writeJson } from "../../../src/storage/index.ts";
import { expectCode } from "../conformance.ts";

// WebCrypto (HKDF, AES-GCM) as workerd implements it, over real bindings.
it("seals and opens values over KV and R2 inside workerd", async () => {
  for (const inner of [new KvStorage(env.KV), new R2Storage(env.BUCKET)]) {
    const s = new EncryptedStorage(inner, { secret: "worker secret from wrangler secret put" });
    const key = `enc-${crypto.randomUUID()}/keys/account`;
    await writeJson(s, key, { kty: "EC", d: "private" });
    expect(new TextDecoder().decode(await inner.get(key))).not.toContain("private");
    expect(await readJson(s, key)).toEqual({ kty: "EC", d: "private" });
    await expectCode(new EncryptedStorage(inner, { secret: "some other secret value" }).get(key), "storage");
  }
});
