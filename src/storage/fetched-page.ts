import type { StorageListResult } from "./storage.ts";
import { encodeKeyCursor } from "./list-page.ts";

/**
 * A list page from keys a backend fetched in order with a limit of `limit + 1`: the extra key only says
 * that more follow, so the page keeps `limit` keys and a cursor after its last one.
 */
export function pageOfFetched(keys: string[], limit: number): StorageListResult {
  if (keys.length <= limit) return { keys };
  const page = keys.slice(0, limit);
  return { keys: page, cursor: encodeKeyCursor(page[limit - 1]!) };
}
