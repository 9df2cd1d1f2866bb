import { EdgecertError } from "../errors.ts";
import { HeldLease, lapsed } from "./lease.ts";
import type { LockAttempt } from "./lock-wait.ts";
import type { DurableObjectStubLike } from "./workers-bindings.ts";
import type { StorageEntry, WriteConditions } from "./storage.ts";
import type { Bytes } from "../webcrypto/web-types.ts";
import { conditionParams, OBJECT_ORIGIN, Paths, REFUSED_STATUS, VERSION_HEADER, type ErrorAnswer, type ListAnswer, type LockAnswer, type LockRequest, type ReleaseRequest, type RenewAnswer, type RenewRequest, type ValuesAnswer, type ValuesRequest } from "./durable-object-protocol.ts";
import { base64urlDecode } from "../webcrypto/base64url.ts";

/** Which value table of the object: {@link DurableObjectStorage}'s, or {@link KvStorage}'s copies. */
export type ValueSpace = "value" | "kvValue";

/** A value read from the object, or why there is none (`none`: the object never had this key). */
export type ObjectEntry = StorageEntry | { absent: "deleted" | "none" };

/**
 * Speaks the {@link EdgecertStorageObject} request format to one object. Keys and names are checked
 * by the callers; failures come back as `EdgecertError("storage")` (`invalid_input` when the object
 * rejected the input, `conflict` / `lease_lost` when it refused a conditional write).
 */
export class StorageObjectClient {
  readonly #stub: DurableObjectStubLike;

  constructor(stub: DurableObjectStubLike) {
    this.#stub = stub;
  }

  /** The value and version at `key` in `space`. */
  async getEntry(key: string, space: ValueSpace = "value"): Promise<ObjectEntry> {
    const response = await this.#send(`${Paths[space]}?${new URLSearchParams({ key })}`, { method: "GET" }, [200, 404]);
    if (response.status === 404) return { absent: response.headers.get("x-edgecert-row") === "none" ? "none" : "deleted" };
    const version = response.headers.get(VERSION_HEADER);
    if (version === null) throw new EdgecertError("storage", "storage Durable Object answered a value without its version");
    return { value: new Uint8Array(await response.arrayBuffer()), version };
  }

  /** Writes `key` in `space` when `when` holds; returns the new version. */
  async put(key: string, value: Bytes, when?: WriteConditions, space: ValueSpace = "value"): Promise<string> {
    return await this.#write(key, { method: "PUT", body: value }, when, space);
  }

  /** Deletes `key` in `space` when `when` holds. */
  async delete(key: string, when?: WriteConditions, space: ValueSpace = "value"): Promise<void> {
    await this.#write(key, { method: "DELETE" }, when, space);
  }

  async #write(key: string, init: RequestInit, when: WriteConditions | undefined, space: ValueSpace): Promise<string> {
    const params = conditionParams(new URLSearchParams({ key }), when);
    const response = await this.#send(`${Paths[space]}?${params}`, init, [204]);
    return response.headers.get(VERSION_HEADER) ?? "";
  }

  async list(prefix: string, after: string | undefined, limit: number): Promise<ListAnswer> {
    const params = new URLSearchParams({ prefix, limit: String(limit) });
    if (after !== undefined) params.set("after", after);
    const response = await this.#send(`${Paths.list}?${params}`, { method: "GET" }, [200]);
    return (await response.json()) as ListAnswer;
  }

  /** The values of `keys` (at most `MAX_LIST_LIMIT`) in the `value` table, in one request. */
  async values(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const answer = await this.#post<ValuesAnswer>(Paths.values, { keys: [...keys] } satisfies ValuesRequest);
    return answer.values.map((v) => (v === null ? undefined : base64urlDecode(v)));
  }

  /** One try at the lock `name`, as in `Storage.lock`. */
  async tryLock(name: string, ttlMs: number): Promise<LockAttempt> {
    const owner = crypto.randomUUID();
    const answer = await this.#post<LockAnswer>(Paths.lock, { name, owner, ttlMs } satisfies LockRequest);
    if (!answer.acquired) return { heldUntil: answer.heldUntil };
    const { token } = answer;
    const lease = new HeldLease(name, token, answer.expiresAt, ttlMs, {
      renew: async (ttl) => {
        const renewed = await this.#post<RenewAnswer>(Paths.renew, { name, owner, token, ttlMs: ttl } satisfies RenewRequest);
        if (!renewed.renewed) throw lapsed(name, token);
        return renewed.expiresAt;
      },
      release: async () => {
        await this.#send(Paths.release, post({ name, owner, token } satisfies ReleaseRequest), [204]);
      },
    });
    return { lease };
  }

  async #post<T>(path: string, body: unknown): Promise<T> {
    const response = await this.#send(path, post(body), [200]);
    return (await response.json()) as T;
  }

  async #send(path: string, init: RequestInit, expected: number[]): Promise<Response> {
    let response: Response;
    try {
      response = await this.#stub.fetch(OBJECT_ORIGIN + path, init);
    } catch (cause) {
      throw new EdgecertError("storage", `storage Durable Object unreachable: ${String(cause)}`, { cause });
    }
    if (expected.includes(response.status)) return response;
    let message = `HTTP ${response.status}`;
    let code: ErrorAnswer["code"];
    try {
      const answer = (await response.json()) as ErrorAnswer;
      message = answer.error ?? message;
      code = answer.code;
    } catch {
      // Not one of our error bodies; keep the status.
    }
    // A refused write is the caller's condition failing, reported as the object worded it.
    if (response.status === REFUSED_STATUS && code !== undefined) throw new EdgecertError(code, message);
    throw new EdgecertError(response.status === 400 ? "invalid_input" : "storage", `storage Durable Object: ${message}`);
  }
}

function post(body: unknown): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}
