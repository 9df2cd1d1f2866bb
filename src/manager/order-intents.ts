import type { Fence, Storage } from "../storage/storage.ts";
import type { PendingOrderRecord } from "./records.ts";
import { keys } from "./storage-keys.ts";
import { readJson, replacing, writeJson, type Versioned } from "./stored-json.ts";

/**
 * Order intents (`orders/<id>.json`): the certificate key and order URL of an order in flight,
 * recorded before newOrder so a crashed run resumes instead of ordering again, plus the http-01
 * tokens it published. Every write is fenced by the certificate's lock; an intent is dropped
 * together with its tokens when its order is done, failed, or abandoned.
 */
export class OrderIntents {
  constructor(private readonly storage: Storage) {}

  /** The intent for certificate `id`, if any. */
  read(id: string): Promise<Versioned<PendingOrderRecord> | undefined> {
    return readJson<PendingOrderRecord>(this.storage, keys.order(id));
  }

  /** Stores `intent` in place of `read`; returns the new read state (version re-read when the backend has versions). */
  async save(intent: PendingOrderRecord, read: Versioned<PendingOrderRecord> | undefined, fence: Fence): Promise<Versioned<PendingOrderRecord>> {
    await writeJson(this.storage, keys.order(intent.id), intent, replacing(this.storage, read, fence));
    return (await this.read(intent.id)) ?? { value: intent, version: undefined };
  }

  /** Removes the tokens an intent published (fenced). */
  async removeTokens(intent: PendingOrderRecord, fence: Fence): Promise<void> {
    for (const token of intent.tokens ?? []) await this.storage.delete(keys.httpToken(token), { fence: { name: fence.name, token: fence.token } });
  }

  /** Drops an intent: its tokens first, then the record itself (so no token outlives its record). */
  async drop(read: Versioned<PendingOrderRecord>, fence: Fence): Promise<void> {
    await this.removeTokens(read.value, fence);
    await this.storage.delete(keys.order(read.value.id), replacing(this.storage, read, fence));
  }

  /** Ids of certificates with an intent, a page at a time (for the stale-intent sweep). */
  async ids(cursor?: string): Promise<{ ids: string[]; cursor?: string }> {
    const page = await this.storage.list(keys.orderPrefix, cursor ? { cursor } : {});
    const out: { ids: string[]; cursor?: string } = {
      ids: page.keys.map((k) => k.slice(keys.orderPrefix.length).replace(/\.json$/, "")),
    };
    if (page.cursor) out.cursor = page.cursor;
    return out;
  }
}
