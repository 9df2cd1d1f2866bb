import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { keys } from "../../../src/manager/storage-keys.ts";
import { EncryptedStorage, KvStorage, R2Storage, writeJson } from "../../../src/storage/index.ts";

// Issue 12, inside workerd: `new EncryptedStorage(storage, { secret })` seals the manager's
// key-bearing records by default (it used to seal only `*.key` and `/keys/`), reads records written
// before encryption was turned on in migration mode (readPlaintext), and reseals them.
it("seals accounts/, certificates/, orders/ and names/ by default, over KV and R2; clear records are refused, or in migration mode read and resealed", async () => {
  for (const inner of [new KvStorage(env.KV), new R2Storage(env.BUCKET)]) {
    const run = crypto.randomUUID();
    const s = new EncryptedStorage(inner, { secret: "worker secret from wrangler secret put" });
    const records = [keys.account(`ca-${run}`, undefined), keys.certificate(run), keys.order(run), keys.nameIndex(`${run}.example`)];
    for (const key of records) {
      await writeJson(s, key, { keyPem: "-----BEGIN PRIVATE KEY-----" });
      const raw = (await inner.get(key))!;
      expect(raw[0], key).toBe(1);
      expect(new TextDecoder().decode(raw), key).not.toContain("PRIVATE KEY");
    }
    const clear = keys.certificate(`clear-${run}`);
    await inner.put(clear, '{"keyPem":"written before"}');
    // A clear record is refused unless in migration mode, which reads it and reseals it.
    await expect(s.get(clear)).rejects.toMatchObject({ code: "storage" });
    const migrating = new EncryptedStorage(inner, { secret: "worker secret from wrangler secret put", readPlaintext: true });
    expect(new TextDecoder().decode(await migrating.get(clear))).toBe('{"keyPem":"written before"}');
    expect(await migrating.reseal(clear)).toBe("sealed-plaintext");
    expect(new TextDecoder().decode(await s.get(clear))).toBe('{"keyPem":"written before"}');
    expect(new TextDecoder().decode(await inner.get(clear))).not.toContain("written before");
  }
});
