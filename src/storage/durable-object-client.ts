import { EdgecertError } from "../errors.ts";
import { HeldLease, lapsed } from "./lease.ts";
import type { LockAttempt } from "./lock-wait.ts";
import type { DurableObjectStubLike } from "./workers-bindings.ts";
import { OBJECT_ORIGIN, Paths, type ErrorAnswer, type ListAnswer, type LockAnswer, type LockRequest, type ReleaseRequest, type RenewAnswer, type RenewRequest } from "./durable-object-protocol.ts";
import type { Bytes } from "../webcrypto/web-types.ts";

/**
 * Speaks the {@link EdgecertStorageObject} request format to one object. Keys and names are checked
 * by the callers; failures come back as `EdgecertError("storage")` (`invalid_input` when the object
 * rejected the input).
 */
export class StorageObjectClient {
  readonly #stub: DurableObjectStubLike;

  constructor(stub: DurableObjectStubLike) {
    this.#stub = stub;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const response = await this.#send(`${Paths.value}?${new URLSearchParams({ key })}`, { method: "GET" }, [200, 404]);
    if (response.status === 404) return undefined;
    return new Uint8Array(await response.arrayBuffer());
  }

  async put(key: string, value: Bytes): Promise<void> {
    await this.#send(`${Paths.value}?${new URLSearchParams({ key })}`, { method: "PUT", body: value }, [204]);
  }

  async delete(key: string): Promise<void> {
    await this.#send(`${Paths.value}?${new URLSearchParams({ key })}`, { method: "DELETE" }, [204]);
  }

  async list(prefix: string, after: string | undefined, limit: number): Promise<ListAnswer> {
    const params = new URLSearchParams({ prefix, limit: String(limit) });
    if (after !== undefined) params.set("after", after);
    const response = await this.#send(`${Paths.list}?${params}`, { method: "GET" }, [200]);
    return (await response.json()) as ListAnswer;
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
    try {
      message = ((await response.json()) as ErrorAnswer).error ?? message;
    } catch {
      // Not one of our error bodies; keep the status.
    }
    throw new EdgecertError(response.status === 400 ? "invalid_input" : "storage", `storage Durable Object: ${message}`);
  }
}

function post(body: unknown): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}
