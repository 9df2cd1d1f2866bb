/**
 * What searching deploy tokens costs in storage operations on the Durable Object store (issue 26):
 * `tokens` tokens, one label in 4,000 `rare-<i>`, a search for them walked page by page to the end.
 * Used by test/hub/token-listing.test.ts and bench/listing-bounds.ts.
 * @module
 */
import { TokenStore, type TokenPosition, type TokenRecord } from "../../workers/hub/tokens.ts";
import { countedObjectStorage } from "./counted-object-storage.ts";

/** Operations of each listing that looked for older tokens, of each searched page (with its uses), of one plain page of 200; the labels found. */
export async function tokenSearchCost(tokens: number): Promise<{ migration: number[]; perPage: number[]; plainPage: number; found: string[] }> {
  const { storage, operations, reset } = countedObjectStorage("hub/tokens/");
  const store = new TokenStore(storage);
  for (let i = 0; i < tokens; i++) await store.create({ scope: { certificate: `cert-${i}` }, label: i % 4_000 === 3_999 ? `rare-${i}` : `common-${i}` });
  // A deployment's first listings look once at every token for one stored before the listing kept
  // its order (600 a listing, 3 operations per 200, none written here); then the marker says done.
  const migration: number[] = [];
  for (let i = 0; i < Math.ceil(tokens / 600); i++) {
    reset();
    await store.page({ limit: 1 });
    migration.push(operations());
  }
  const rare = (r: TokenRecord) => r.label?.startsWith("rare-") === true;
  const perPage: number[] = [];
  const found: string[] = [];
  let after: TokenPosition | undefined;
  do {
    reset();
    const page = await store.page({ limit: 50, accept: rare, ...(after ? { after } : {}) });
    await store.withUsage(page.records);
    perPage.push(operations());
    found.push(...page.records.map((r) => r.label!));
    after = page.next;
  } while (after && perPage.length < 10_000);
  reset();
  await store.withUsage((await store.page({ limit: 200 })).records);
  return { migration, perPage, plainPage: operations(), found };
}
