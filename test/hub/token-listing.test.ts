import { describe, expect, it } from "vitest";
import { countedObjectStorage } from "../support/counted-object-storage.ts";
import { tokenSearchCost } from "../support/token-search-cost.ts";
import { MAX_TOKENS_EXAMINED, PAGE_OPERATIONS, TokenStore, type TokenPosition, type TokenRecord } from "../../workers/hub/tokens.ts";

// The deploy-token listing (GET /admin/tokens, the dashboard) pages in storage (issue 26, "hub token
// listing pages in code"): a page reads its own tokens, not every token; a filtered page reads a
// bounded number; tokens stored before the listing kept its order are found too. The route over it is
// tested in workerd (test/workers/admin-listing.test.ts).

const counted = () => countedObjectStorage("hub/tokens/");

async function walk(store: TokenStore, limit: number, accept?: (r: TokenRecord) => boolean): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let after: TokenPosition | undefined;
  do {
    const page = await store.page({ limit, ...(after ? { after } : {}), ...(accept ? { accept } : {}) });
    ids.push(...page.records.map((r) => r.id));
    pages.push(page.records.length);
    after = page.next;
    expect(pages.length).toBeLessThan(1_000);
  } while (after);
  return { ids, pages };
}

describe("deploy-token listing in storage", () => {
  it("a page of 50 out of 300 reads 50 token records (was: all 300 on every page); walked by cursor, each once, oldest first", async () => {
    const { storage, records, reset } = counted();
    let now = 1_700_000_000_000;
    const store = new TokenStore(storage, () => now);
    const created: string[] = [];
    for (let i = 0; i < 300; i++) {
      // Three tokens per millisecond: ties are ordered by id.
      if (i % 3 === 0) now++;
      created.push((await store.create({ scope: { pattern: `*.t${i}.list.test` }, label: `edge-${i}` })).record.id);
    }
    const expected = created.map((id, i) => ({ id, at: Math.floor(i / 3) })).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1)).map((t) => t.id);
    // Once per deployment, the first listings index tokens stored before the order was kept (the last test).
    await store.page({ limit: 1 });
    reset();
    const first = await store.page({ limit: 50 });
    expect(first.records.map((r) => r.id)).toEqual(expected.slice(0, 50));
    expect(records()).toBe(50);
    const all = await walk(store, 50);
    expect(all.ids).toEqual(expected);
    expect(all.pages).toEqual([50, 50, 50, 50, 50, 50]);
    console.log(`token listing: a page of 50 of 300 read ${50} records; the walk of 6 pages read ${records() - 50}`);
    expect(records() - 50).toBe(300);
  });

  it("a filter reads at most MAX_TOKENS_EXAMINED per page and says where to go on; matches come in order", async () => {
    const { storage, records, reset } = counted();
    const store = new TokenStore(storage);
    for (let i = 0; i < 1_200; i++) await store.create({ scope: { certificate: `cert-${i}` }, label: i % 400 === 399 ? `rare-${i}` : `common-${i}` });
    await store.page({ limit: 1 });
    await store.page({ limit: 1 });
    reset();
    const rare = (r: TokenRecord) => r.label?.startsWith("rare-") === true;
    const page = await store.page({ limit: 10, accept: rare });
    expect(records()).toBeLessThanOrEqual(MAX_TOKENS_EXAMINED);
    expect(page.records.map((r) => r.label)).toEqual(["rare-399"]);
    expect(page.next).toBeDefined();
    const walked = await walk(store, 10, rare);
    expect(walked.ids).toHaveLength(3);
    expect((await Promise.all(walked.ids.map(async (id) => JSON.parse(new TextDecoder().decode((await storage.get(`hub/tokens/${id}`))!)) as TokenRecord))).map((r) => r.label)).toEqual(["rare-399", "rare-799", "rare-1199"]);
    // Nothing matches: short pages, each within the bound, until the end.
    reset();
    const none = await walk(store, 10, () => false);
    expect(none.ids).toEqual([]);
    expect(none.pages.length).toBe(Math.ceil(1_200 / MAX_TOKENS_EXAMINED));
    expect(records()).toBe(1_200);
  });

  it("tokens stored before the listing kept its order are listed too: 20 keys written per listing, each listing within Workers Free's 50 subrequests", async () => {
    const { storage, operations, reset } = counted();
    // As the earlier version wrote them: the record only.
    for (let i = 0; i < 110; i++) {
      const id = `old${String(i).padStart(9, "0")}`;
      const record: TokenRecord = { id, hash: "0".repeat(64), scope: { certificate: `c-${i}` }, createdAt: 1_600_000_000_000 + i, uses: 0 };
      await storage.put(`hub/tokens/${id}`, JSON.stringify(record));
    }
    const store = new TokenStore(storage, () => 1_700_000_000_000);
    const fresh = (await store.create({ scope: { certificate: "new" }, label: "new" })).record.id;
    const marker = async () => new TextDecoder().decode((await storage.get("hub/tokens-by-creation-built")) ?? new Uint8Array());
    // Each listing gives 20 of them their key (bounded work per request) until every one has it.
    const perListing: number[] = [];
    while ((await marker()) !== "done" && perListing.length < 20) {
      reset();
      await store.withUsage((await store.page({ limit: 200 })).records);
      perListing.push(operations());
    }
    console.log(`110 older tokens: ${perListing.length} listings to give them their keys, storage operations per listing ${Math.min(...perListing)}-${Math.max(...perListing)}`);
    expect(perListing).toHaveLength(6);
    for (const n of perListing) expect(n).toBeLessThanOrEqual(50);
    const all = await walk(store, 200);
    expect(all.ids).toHaveLength(111);
    expect(all.ids.slice(0, 3)).toEqual(["old000000000", "old000000001", "old000000002"]);
    expect(all.ids.at(-1)).toBe(fresh);
  });

  it("a searched page at 10,000 tokens with 3 matches costs at most PAGE_OPERATIONS storage operations (was ~510: one per token read), with its uses one more", async () => {
    const TOKENS = 10_000;
    const { migration, perPage, plainPage, found } = await tokenSearchCost(TOKENS);
    console.log(`token search at ${TOKENS.toLocaleString("en")} tokens: ${perPage.length} pages, storage operations per page ${Math.min(...perPage)}-${Math.max(...perPage)}`);
    expect(Math.max(...migration)).toBeLessThanOrEqual(50);
    expect(found).toEqual(["rare-3999", "rare-7999"]);
    expect(perPage).toHaveLength(Math.ceil(TOKENS / MAX_TOKENS_EXAMINED));
    for (const n of perPage) expect(n).toBeLessThanOrEqual(PAGE_OPERATIONS + 1);
    // An unfiltered page: the same bound.
    expect(plainPage).toBeLessThanOrEqual(PAGE_OPERATIONS + 1);
  });
});
