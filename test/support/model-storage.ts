/**
 * A {@link Storage} for interleaving searches: the storage contract of src/storage/storage.ts
 * (versioned reads, `ifVersion` / `fence` write conditions refused with `conflict` / `lease_lost`,
 * leases with growing fencing tokens) held in memory, on the scheduler's virtual clock, with every
 * operation of every actor waiting at a scheduler gate. MemoryStorage keeps leases on the real
 * clock, which a search cannot move; this model exists for that alone and follows the same rules.
 * It also records, for the invariant checks, every write that was accepted and under which fence.
 * With `dueIndex`, views are also a {@link DueIndex} (fenced like writes; `earlierOnly` as specified).
 * @module
 */
import { EdgecertError } from "../../src/errors.ts";
import type { Lease, LockOptions, Storage, StorageEntry, StorageListOptions, StorageListResult, WriteConditions } from "../../src/storage/storage.ts";
import type { DueEntry, DueIndex, DueWriteOptions } from "../../src/storage/due-index.ts";
import type { Scheduler } from "./scheduler.ts";

interface Held {
  owner: string;
  token: number;
  expiresAt: number;
}

/** One accepted write, for the invariant checks. */
export interface AcceptedWrite {
  actor: string;
  op: "put" | "delete";
  key: string;
  value?: string;
  fence?: { name: string; token: number };
  ifVersion?: string | null;
  at: number;
}

/** See the module comment. */
export class ModelStorage {
  readonly values = new Map<string, { value: Uint8Array; version: number }>();
  readonly locks = new Map<string, Held>();
  readonly #tokens = new Map<string, number>();
  #version = 0;
  /** Writes refused for a stale fence (the lease had lapsed or was taken over). */
  refusedStale = 0;
  /** Writes refused for a stale version. */
  refusedConflict = 0;
  /** Called on every accepted write, before it takes effect. */
  onWrite?: (write: AcceptedWrite, before: Uint8Array | undefined) => void;
  /** Due-index entries (with `dueIndex`). */
  readonly due = new Map<string, number>();
  /** Called after every accepted due-index write, with the id it changed. */
  onDueWrite?: (id: string, actor: string) => void;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly dueIndex = false,
  ) {}

  /** The live holder of lock `name`, if any. */
  holder(name: string): Held | undefined {
    const held = this.locks.get(name);
    return held && held.expiresAt > this.scheduler.now ? held : undefined;
  }

  /** Reads without a gate (the checks, and the CA's http-01 fetch inside its own gate). */
  peek(key: string): Uint8Array | undefined {
    return this.values.get(key)?.value;
  }

  keys(prefix: string): string[] {
    return [...this.values.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** The storage `actor` sees: every call waits at a gate of the scheduler first. */
  viewFor(actor: string): Storage {
    const s = this.scheduler;
    const gate = (label: string) => s.gate(actor, label);
    const view: Storage = {
      get: async (key) => {
        await gate(`get ${key}`);
        const v = this.values.get(key);
        return v ? new Uint8Array(v.value) : undefined;
      },
      getEntry: async (key): Promise<StorageEntry | undefined> => {
        await gate(`get ${key}`);
        const v = this.values.get(key);
        return v ? { value: new Uint8Array(v.value), version: String(v.version) } : undefined;
      },
      put: async (key, value, when) => {
        await gate(`put ${key}`);
        this.#write(actor, "put", key, typeof value === "string" ? new TextEncoder().encode(value) : new Uint8Array(value), when);
      },
      delete: async (key, when) => {
        await gate(`delete ${key}`);
        this.#write(actor, "delete", key, undefined, when);
      },
      list: async (prefix: string, options?: StorageListOptions): Promise<StorageListResult> => {
        await gate(`list ${prefix}`);
        const all = this.keys(prefix).filter((k) => options?.cursor === undefined || k > options.cursor);
        const limit = options?.limit ?? 1000;
        const page = all.slice(0, limit);
        return all.length > limit ? { keys: page, cursor: page.at(-1)! } : { keys: page };
      },
      lock: async (name: string, options?: LockOptions): Promise<Lease> => {
        const ttlMs = options?.ttlMs ?? 60_000;
        const deadline = s.now + (options?.waitMs ?? ttlMs);
        for (;;) {
          await gate(`lock ${name}`);
          if (options?.signal?.aborted) throw new EdgecertError("aborted", "lock wait aborted");
          const current = this.holder(name);
          if (!current) return this.#grant(actor, name, ttlMs);
          if (s.now >= deadline) throw new EdgecertError("storage", `lock "${name}" is held by another owner`);
          await s.sleep(actor, Math.min(current.expiresAt - s.now + 1, deadline - s.now, 50), options?.signal);
        }
      },
    };
    if (!this.dueIndex) return view;
    const index: DueIndex = {
      setDue: async (id: string, dueAtMs: number, options?: DueWriteOptions) => {
        await gate(`setDue ${id}`);
        this.#checkFence(`setDue ${id}`, options?.fence);
        const current = this.due.get(id);
        if (!(options?.earlierOnly && current !== undefined && current <= dueAtMs)) this.due.set(id, Math.floor(dueAtMs));
        this.onDueWrite?.(id, actor);
      },
      clearDue: async (id: string, options?: Pick<DueWriteOptions, "fence">) => {
        await gate(`clearDue ${id}`);
        this.#checkFence(`clearDue ${id}`, options?.fence);
        this.due.delete(id);
        this.onDueWrite?.(id, actor);
      },
      due: async (untilMs: number, limit: number): Promise<DueEntry[]> => {
        await gate("due");
        return [...this.due].filter(([, at]) => at <= untilMs).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit).map(([id, dueAtMs]) => ({ id, dueAtMs }));
      },
    };
    return Object.assign(view, index);
  }

  #checkFence(what: string, fence: { name: string; token: number } | undefined): void {
    if (!fence) return;
    const held = this.locks.get(fence.name);
    if (!held || held.token !== fence.token || held.expiresAt <= this.scheduler.now) {
      this.refusedStale++;
      throw new EdgecertError("lease_lost", `${what}: lease ${fence.name} (token ${fence.token}) is not held`);
    }
  }

  #grant(actor: string, name: string, ttlMs: number): Lease {
    const s = this.scheduler;
    const token = (this.#tokens.get(name) ?? 0) + 1;
    this.#tokens.set(name, token);
    const held: Held = { owner: actor, token, expiresAt: s.now + ttlMs };
    this.locks.set(name, held);
    return {
      name,
      token,
      get expiresAt() {
        return held.expiresAt;
      },
      renew: async (ttl = ttlMs) => {
        await s.gate(actor, `renew ${name}`);
        if (this.locks.get(name) !== held || held.expiresAt <= s.now) {
          throw new EdgecertError("storage", `lease on "${name}" (token ${token}) lapsed or was taken over`);
        }
        held.expiresAt = s.now + ttl;
      },
      release: async () => {
        await s.gate(actor, `release ${name}`);
        if (this.locks.get(name) === held) this.locks.delete(name);
      },
    };
  }

  #write(actor: string, op: "put" | "delete", key: string, value: Uint8Array | undefined, when: WriteConditions | undefined): void {
    const current = this.values.get(key);
    this.#checkFence(`${op} ${key}`, when?.fence);
    if (when && "ifVersion" in when && when.ifVersion !== undefined) {
      const ok = when.ifVersion === null ? current === undefined : current !== undefined && String(current.version) === when.ifVersion;
      if (!ok) {
        this.refusedConflict++;
        throw new EdgecertError("conflict", `${op} ${key}: version changed`);
      }
    }
    const write: AcceptedWrite = { actor, op, key, at: this.scheduler.now };
    if (value) write.value = new TextDecoder().decode(value);
    if (when?.fence) write.fence = when.fence;
    if (when?.ifVersion !== undefined) write.ifVersion = when.ifVersion;
    this.onWrite?.(write, current?.value);
    if (op === "put") this.values.set(key, { value: value!, version: ++this.#version });
    else this.values.delete(key);
  }
}
