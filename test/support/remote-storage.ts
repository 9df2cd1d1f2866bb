/**
 * A Storage (+ DueIndex) whose methods run in another process, over the JSON RPC that
 * test/fleet/deno-kv-server.ts serves: how the Node-side suites reach a DenoKvStorage running in Deno.
 * Errors come back as EdgecertError with the same code.
 */
import { EdgecertError, type EdgecertErrorCode } from "../../src/errors.ts";
import type { DueEntry, DueIndex, DueWriteOptions } from "../../src/storage/due-index.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../../src/storage/storage.ts";
import { base64Decode, base64Encode } from "../../src/webcrypto/base64url.ts";

export class RemoteStorage implements Storage, DueIndex {
  constructor(readonly url: string) {}

  async #rpc(op: string, args: unknown[]): Promise<any> {
    let res: Response;
    try {
      res = await fetch(this.url, { method: "POST", body: JSON.stringify({ op, args }, keepOddNumbers) });
    } catch (error) {
      throw new EdgecertError("storage", `remote storage unreachable: ${String(error)}`, { cause: error });
    }
    const body = (await res.json()) as { ok?: unknown; error?: { code: string; message: string } };
    if (body.error) {
      if (body.error.code === "crash") throw new Error(body.error.message);
      throw new EdgecertError(body.error.code as EdgecertErrorCode, body.error.message);
    }
    return body.ok;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = await this.#rpc("get", [key]);
    return v === null ? undefined : base64Decode(v);
  }
  async getEntry(key: string): Promise<StorageEntry | undefined> {
    const e = await this.#rpc("getEntry", [key]);
    return e === null ? undefined : { value: base64Decode(e.value), version: e.version };
  }
  async put(key: string, value: Uint8Array | string, when?: WriteConditions): Promise<void> {
    // Keep a caller's malformed value malformed: strings as strings, bytes as base64.
    const wire = typeof value === "string" ? value : value instanceof Uint8Array ? { b64: base64Encode(value) } : value;
    await this.#rpc("put", [key, wire, plainConditions(when)]);
  }
  async delete(key: string, when?: WriteConditions): Promise<void> {
    await this.#rpc("delete", [key, plainConditions(when)]);
  }
  async list(prefix: string, options?: StorageListOptions): Promise<StorageListResult> {
    return await this.#rpc("list", [prefix, options ?? null]);
  }
  async lock(name: string, options?: LockOptions): Promise<Lease> {
    const { signal, ...rest } = options ?? {};
    if (signal?.aborted) throw new EdgecertError("aborted", "aborted before the lock was taken");
    // The remote side cannot see our signal: wait in short remote attempts and check it between them.
    const waitMs = rest.waitMs ?? rest.ttlMs ?? 60_000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const slice = signal ? Math.min(100, Math.max(0, deadline - Date.now())) : waitMs;
        const held = await this.#rpc("lock", [name, { ...rest, waitMs: slice }]);
        return this.#lease(held);
      } catch (error) {
        if (!signal || (error as EdgecertError).code !== "storage" || Date.now() >= deadline) throw error;
        if (signal.aborted) throw new EdgecertError("aborted", "lock wait aborted");
      }
    }
  }
  #lease(held: { id: string; name: string; token: number; expiresAt: number }): Lease {
    let expiresAt = held.expiresAt;
    return {
      name: held.name,
      token: held.token,
      get expiresAt() {
        return expiresAt;
      },
      renew: async (ttlMs?: number) => {
        expiresAt = (await this.#rpc("renew", [held.id, ttlMs ?? null])).expiresAt;
      },
      release: async () => {
        await this.#rpc("release", [held.id]);
      },
    };
  }
  async setDue(id: string, dueAtMs: number, options?: DueWriteOptions): Promise<void> {
    await this.#rpc("setDue", [id, dueAtMs, plainDueOptions(options)]);
  }
  async clearDue(id: string, options?: Pick<DueWriteOptions, "fence">): Promise<void> {
    await this.#rpc("clearDue", [id, plainDueOptions(options)]);
  }
  async due(untilMs: number, limit: number): Promise<DueEntry[]> {
    return await this.#rpc("due", [untilMs, limit]);
  }
}

/** Due-index options with a plain fence. */
function plainDueOptions(options: DueWriteOptions | undefined): unknown {
  if (!options) return null;
  return { ...(options.earlierOnly ? { earlierOnly: true } : {}), ...(options.fence ? { fence: { name: options.fence.name, token: options.fence.token } } : {}) };
}

/** A fence as plain { name, token } (a Lease object does not survive JSON). */
function plainConditions(when: WriteConditions | undefined): unknown {
  if (!when) return null;
  return { ...(when.ifVersion !== undefined ? { ifVersion: when.ifVersion } : {}), ...(when.fence !== undefined ? { fence: when.fence && typeof when.fence === "object" ? { name: when.fence.name, token: when.fence.token } : when.fence } : {}) };
}

/** JSON has no NaN or Infinity: send them tagged, so the remote side checks the caller's real value. */
export function keepOddNumbers(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? { $number: String(value) } : value;
}
