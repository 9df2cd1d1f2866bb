import { describe, expect, it } from "vitest";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import { readJson, readText, writeJson } from "../../src/storage/codec.ts";
import { expectCode } from "./conformance.ts";

describe("storage codec", () => {
  it("round-trips text and JSON, and reads missing keys as undefined", async () => {
    const s = new MemoryStorage();
    await writeJson(s, "a.json", { n: 1, list: ["x", null], nested: { ok: true } });
    expect(await readJson<{ n: number }>(s, "a.json")).toEqual({ n: 1, list: ["x", null], nested: { ok: true } });
    expect(await readText(s, "a.json")).toBe('{"n":1,"list":["x",null],"nested":{"ok":true}}');
    await s.put("t", "héllo");
    expect(await readText(s, "t")).toBe("héllo");
    expect(await readText(s, "missing")).toBeUndefined();
    expect(await readJson(s, "missing")).toBeUndefined();
  });

  it("reports unreadable stored values as EdgecertError(storage)", async () => {
    const s = new MemoryStorage();
    await s.put("bad.json", "{not json");
    await expectCode(readJson(s, "bad.json"), "storage");
    await s.put("empty.json", "");
    await expectCode(readJson(s, "empty.json"), "storage");
    await s.put("bin", Uint8Array.of(0xff, 0xfe));
    await expectCode(readText(s, "bin"), "storage");
    await expectCode(readJson(s, "bin"), "storage");
  });

  it("refuses values JSON cannot carry with invalid_input", async () => {
    const s = new MemoryStorage();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expectCode(writeJson(s, "c", cyclic), "invalid_input");
    await expectCode(writeJson(s, "u", undefined), "invalid_input");
    await expectCode(writeJson(s, "b", { n: 1n }), "invalid_input");
    expect(await s.get("c")).toBeUndefined();
  });
});
