/**
 * Value cases of the storage conformance suite: what `get`/`put`/`delete` keep, byte for byte, and which
 * keys every backend must refuse.
 */
import { check, checkText, expectRefusal, sameBytes, unique, type AddCase } from "./conformance-check.ts";

/** Registers the value cases with `add`. */
export function valueCases(add: AddCase): void {
  add("text round-trips as UTF-8", async (s) => {
    const key = `${unique("t")}/greeting.txt`;
    await s.put(key, "héllo ✓ 🌍");
    const back = await s.get(key);
    check(back !== undefined && sameBytes(back, new TextEncoder().encode("héllo ✓ 🌍")), "text must be stored as its UTF-8 bytes");
  });

  add("binary round-trips: every byte value, empty, and 1 MiB", async (s) => {
    const p = unique("b");
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < big.length; i += 65_536) crypto.getRandomValues(big.subarray(i, i + 65_536));
    await Promise.all([s.put(`${p}/all`, all), s.put(`${p}/empty`, new Uint8Array(0)), s.put(`${p}/big`, big)]);
    const back = await s.get(`${p}/all`);
    check(back !== undefined && sameBytes(back, all), "the 256 byte values must come back unchanged");
    const empty = await s.get(`${p}/empty`);
    check(empty instanceof Uint8Array && empty.length === 0, `an empty value must read as an empty Uint8Array, got ${String(empty)}`);
    const bigBack = await s.get(`${p}/big`);
    check(bigBack !== undefined && sameBytes(bigBack, big), `1 MiB must come back unchanged (got ${bigBack?.length} bytes)`);
  });

  add("overwrites; stored bytes are not affected by later changes to the caller's arrays", async (s) => {
    const key = `${unique("o")}/v`;
    const value = Uint8Array.of(1, 2, 3);
    await s.put(key, value);
    value[0] = 9;
    const read = await s.get(key);
    check(read !== undefined && sameBytes(read, Uint8Array.of(1, 2, 3)), "changing the array after put changed the stored value");
    read[1] = 9;
    const again = await s.get(key);
    check(again !== undefined && sameBytes(again, Uint8Array.of(1, 2, 3)), "changing a read array changed the stored value");
    await s.put(key, "second");
    checkText(await s.get(key), "second", "value after an overwrite");
  });

  add("a missing key reads undefined; delete is idempotent", async (s) => {
    const key = `${unique("d")}/gone`;
    check((await s.get(key)) === undefined, "a key never written must read undefined");
    await s.delete(key);
    await s.put(key, "x");
    await s.delete(key);
    check((await s.get(key)) === undefined, "a deleted key must read undefined");
    await s.delete(key);
    check((await s.list(key)).keys.length === 0, "a deleted key must not be listed");
  });

  add("a key and keys below or beside it stay apart (a, a/b, a.b)", async (s) => {
    const p = unique("n");
    await s.put(`${p}/a/b`, "child");
    await s.put(`${p}/a`, "parent");
    await s.put(`${p}/a.b`, "sibling");
    await s.put(`${p}/.well-known/x~y%z`, "odd");
    checkText(await s.get(`${p}/a`), "parent", `${p}/a`);
    checkText(await s.get(`${p}/a/b`), "child", `${p}/a/b`);
    checkText(await s.get(`${p}/.well-known/x~y%z`), "odd", `${p}/.well-known/x~y%z`);
    const listed = (await s.list(`${p}/`)).keys;
    const expected = [`${p}/.well-known/x~y%z`, `${p}/a`, `${p}/a.b`, `${p}/a/b`];
    check(listed.join("\n") === expected.join("\n"), `listing ${p}/: ${JSON.stringify(listed)}, expected ${JSON.stringify(expected)}`);
    await s.delete(`${p}/a`);
    checkText(await s.get(`${p}/a/b`), "child", "a key below a deleted one");
  });

  add("malformed keys, prefixes, limits and cursors are rejected with invalid_input", async (s) => {
    for (const key of ["", "/abs", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\u0000b", "a\nb", "a\u007fb", "é", "x".repeat(513)]) {
      await expectRefusal(s.put(key, "x"), "invalid_input");
      await expectRefusal(s.get(key), "invalid_input");
      await expectRefusal(s.delete(key), "invalid_input");
    }
    await expectRefusal(s.list("a\\"), "invalid_input");
    await expectRefusal(s.list("", { limit: 0 }), "invalid_input");
    await expectRefusal(s.list("", { cursor: "not a cursor" }), "invalid_input");
  });
}
