/**
 * Listing cases of the storage conformance suite. What `list` guarantees, paging included:
 *
 * - every page is sorted, holds at most `limit` keys, all starting with the prefix, and continues after
 *   the last key of the page before (so the whole listing is strictly ascending: no key twice);
 * - **a key present for the whole listing** (written before the first page was asked for, not deleted
 *   until the last page arrived, overwrites allowed) **appears exactly once**;
 * - a key created or deleted while the listing runs may appear or not, but at most once, and only a key
 *   that existed at some moment of the listing appears at all.
 */
import { check, unique, type AddCase } from "./conformance-check.ts";
import { seededRandom } from "./seeded-random.ts";
import type { Storage } from "./storage.ts";

/** Registers the list cases with `add`; `seed` as for the rest of the suite. */
export function listCases(add: AddCase, seed: number | undefined, log: (line: string) => void): void {
  add("paging is complete: every key exactly once, in order, at page sizes 1, 4, 10 and 1000; nothing outside the prefix", async (s) => {
    const p = unique("lc");
    const keys = [
      ...Array.from({ length: 20 }, (_, i) => `${p}/k${String(i).padStart(2, "0")}`),
      `${p}/.hidden`,
      `${p}/k05/child`,
      `${p}/k05.x`,
      `${p}/z~%`,
    ];
    const expected = [...keys].sort(byteOrder);
    await Promise.all(keys.map((k) => s.put(k, k)));
    await Promise.all([s.put(`${p}x/outside`, "x"), s.put(`${p.slice(0, -1)}/before`, "x"), s.put(`${p}`, "the prefix without its slash")]);
    for (const limit of [1, 4, 10, 1000]) {
      const { keys: listed, pages } = await listAll(s, `${p}/`, limit);
      checkSame(listed, expected, `listing ${p}/ with limit ${limit}`);
      check(pages >= Math.ceil(expected.length / limit), `limit ${limit}: ${pages} pages for ${expected.length} keys`);
    }
    // A prefix may end inside a segment.
    checkSame((await listAll(s, `${p}/k1`, 3)).keys, expected.filter((k) => k.startsWith(`${p}/k1`)), `listing ${p}/k1`);
    const none = await s.list(`${unique("le")}/`);
    check(none.keys.length === 0 && none.cursor === undefined, `an empty prefix lists ${JSON.stringify(none)}, expected { keys: [] }`);
  });

  add("paging while others write (seeded): keys present for the whole listing appear exactly once; none twice; none out of order", async (s) => {
    const caseSeed = seed ?? Math.floor(Math.random() * 2 ** 32);
    const random = seededRandom(caseSeed);
    const p = unique("lw");
    const stable = Array.from({ length: 24 }, (_, i) => `${p}/s${String(i * 10).padStart(3, "0")}`);
    await Promise.all(stable.map((k) => s.put(k, "stable")));
    const existed = new Set(stable);
    const churn: string[] = [];
    let ops = 0;
    // One writer's step: create a key between or around the stable ones, delete one of those, or
    // rewrite a stable key (it stays present).
    const step = async () => {
      const r = random();
      ops++;
      if (r < 0.45 || churn.length === 0) {
        const key = `${p}/s${String(Math.floor(random() * 250)).padStart(3, "0")}${r < 0.2 ? "" : "-c"}${ops}`;
        existed.add(key);
        churn.push(key);
        await s.put(key, "churn");
      } else if (r < 0.8) {
        const [key] = churn.splice(Math.floor(random() * churn.length), 1);
        await s.delete(key!);
      } else {
        await s.put(stable[Math.floor(random() * stable.length)]!, `rewritten ${ops}`);
      }
    };
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      // Writes between pages (seeded) and a writer racing the page request itself.
      for (let n = Math.floor(random() * 3); n > 0; n--) await step();
      const [page] = await Promise.all([s.list(`${p}/`, cursor === undefined ? { limit: 3 } : { limit: 3, cursor }), step()]);
      check(page.keys.length <= 3, `a page of limit 3 held ${page.keys.length} keys`);
      listed.push(...page.keys);
      cursor = page.cursor;
      check(++pages <= 200, "list did not terminate within 200 pages");
    } while (cursor !== undefined);
    const replay = `(seed ${caseSeed}; replay with it)`;
    log(`storage conformance list-while-writing (seed ${caseSeed}): ${pages} pages, ${ops} concurrent writes, ${listed.length} keys listed; replay with seed ${caseSeed}`);
    for (let i = 1; i < listed.length; i++) check(byteOrder(listed[i - 1]!, listed[i]!) < 0, `listing not strictly ascending at ${JSON.stringify(listed.slice(i - 1, i + 1))} ${replay}`);
    for (const key of listed) check(existed.has(key), `listed ${JSON.stringify(key)}, which was never written ${replay}`);
    const seen = new Set(listed);
    const missing = stable.filter((k) => !seen.has(k));
    check(missing.length === 0, `keys present for the whole listing were not listed: ${JSON.stringify(missing)} ${replay}`);
  });
}

/** Pages through `prefix` with `limit`; checks each page's size and bounds the page count. */
export async function listAll(s: Storage, prefix: string, limit: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await s.list(prefix, cursor === undefined ? { limit } : { limit, cursor });
    check(page.keys.length <= limit, `a page of limit ${limit} held ${page.keys.length} keys`);
    keys.push(...page.keys);
    cursor = page.cursor;
    check(++pages <= 1_000, `listing ${prefix} did not terminate within 1000 pages`);
  } while (cursor !== undefined);
  return { keys, pages };
}

function checkSame(actual: string[], expected: string[], what: string): void {
  const missing = expected.filter((k) => !actual.includes(k));
  const extra = actual.filter((k) => !expected.includes(k));
  const twice = actual.filter((k, i) => actual.indexOf(k) !== i);
  check(
    missing.length === 0 && extra.length === 0 && twice.length === 0 && actual.join("\n") === expected.join("\n"),
    `${what}: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}, twice ${JSON.stringify(twice)}${missing.length + extra.length + twice.length === 0 ? ", out of order" : ""}`,
  );
}

/** Byte order of ASCII keys (the order the contract asks `list` for). */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
