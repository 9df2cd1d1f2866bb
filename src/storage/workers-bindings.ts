/**
 * The few members of Cloudflare Workers bindings the Workers backends call, declared structurally so
 * that edgecert needs no `@cloudflare/workers-types` globals (which clash with the DOM lib): the real
 * `KVNamespace`, `R2Bucket`, `DurableObjectNamespace` and `DurableObjectState` fit these shapes.
 */

/** What {@link KvStorage} uses of a `KVNamespace` binding. */
export interface KvNamespaceLike {
  get(key: string, type: "arrayBuffer"): Promise<ArrayBuffer | null>;
  put(key: string, value: ArrayBuffer): Promise<void>;
  delete(key: string): Promise<void>;
  list(options: { prefix?: string | null; limit?: number; cursor?: string | null }): Promise<{
    keys: { name: string }[];
    list_complete: boolean;
    cursor?: string;
  }>;
}

/** An R2 object's identity: key, entity tag, upload id and custom metadata. */
export interface R2ObjectLike {
  readonly key: string;
  readonly etag: string;
  /** Unique per upload (R2's object version). */
  readonly version: string;
  readonly customMetadata?: Record<string, string>;
}

/** An R2 object with its body. */
export interface R2ObjectBodyLike extends R2ObjectLike {
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Preconditions for an R2 write (`onlyIf`). `etagDoesNotMatch: "*"` means "only if absent". */
export interface R2ConditionalLike {
  etagMatches?: string;
  etagDoesNotMatch?: string;
}

/** What {@link R2Storage} uses of an `R2Bucket` binding. */
export interface R2BucketLike {
  get(key: string): Promise<R2ObjectBodyLike | null>;
  head(key: string): Promise<R2ObjectLike | null>;
  /** Resolves to null when an `onlyIf` precondition fails. */
  put(key: string, value: ArrayBuffer, options?: { onlyIf?: R2ConditionalLike; customMetadata?: Record<string, string> }): Promise<R2ObjectLike | null>;
  delete(key: string): Promise<void>;
  list(options: { prefix?: string; limit?: number; cursor?: string; include?: "customMetadata"[] }): Promise<{
    objects: { key: string; customMetadata?: Record<string, string> }[];
    truncated: boolean;
    cursor?: string;
  }>;
}

/** A Durable Object id (opaque here). */
export interface DurableObjectIdLike {
  toString(): string;
}

/** A Durable Object stub, spoken to over `fetch`. */
export interface DurableObjectStubLike {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

/** What edgecert uses of a `DurableObjectNamespace` binding to {@link EdgecertStorageObject}. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): DurableObjectIdLike;
  get(id: DurableObjectIdLike): DurableObjectStubLike;
}

/** A value in a Durable Object's SQLite storage. */
export type SqlValueLike = ArrayBuffer | string | number | null;

/** What {@link EdgecertStorageObject} uses of its `DurableObjectState`: the SQLite storage API. */
export interface DurableObjectStateLike {
  readonly storage: {
    readonly sql: {
      exec(query: string, ...bindings: SqlValueLike[]): { toArray(): Record<string, SqlValueLike>[] };
    };
    transactionSync<T>(fn: () => T): T;
  };
}
