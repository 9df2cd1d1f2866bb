/**
 * The few members of Cloudflare Workers bindings the Workers backends call, declared structurally so
 * that edgecert needs no `@cloudflare/workers-types` globals (which clash with the DOM lib): the real
 * `KVNamespace`, `R2Bucket`, `DurableObjectNamespace` and `DurableObjectState` fit these shapes.
 */

/** What {@link KvStorage} uses of a `KVNamespace` binding. */
export interface KvNamespaceLike {
  /** Reads a value as bytes. */
  get(key: string, type: "arrayBuffer"): Promise<ArrayBuffer | null>;
  /** Writes a value. */
  put(key: string, value: ArrayBuffer): Promise<void>;
  /** Deletes a value. */
  delete(key: string): Promise<void>;
  /**  null|Lists keys by prefix, a page at a time. */
  list(options: { prefix?: string | null; limit?: number; cursor?: string | null }): Promise<{
    keys: { name: string }[];
    list_complete: boolean;
    cursor?: string;
  }>;
}

/** An R2 object's identity: key, entity tag, upload id and custom metadata. */
export interface R2ObjectLike {
  /** The object's key. */
  readonly key: string;
  /** Its etag (for conditional writes). */
  readonly etag: string;
  /** Unique per upload (R2's object version). */
  readonly version: string;
  /** Metadata stored with it. */
  readonly customMetadata?: Record<string, string>;
}

/** An R2 object with its body. */
export interface R2ObjectBodyLike extends R2ObjectLike {
  /** The body as bytes. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Preconditions for an R2 write (`onlyIf`). `etagDoesNotMatch: "*"` means "only if absent". */
export interface R2ConditionalLike {
  /** Write only if the current etag is this. */
  etagMatches?: string;
  /** Write only if the current etag is not this (`*`: only if absent). */
  etagDoesNotMatch?: string;
}

/** What {@link R2Storage} uses of an `R2Bucket` binding. */
export interface R2BucketLike {
  /**  null>;|Reads an object. */
  get(key: string): Promise<R2ObjectBodyLike | null>;
  /**  null>;|Reads an object's metadata. */
  head(key: string): Promise<R2ObjectLike | null>;
  /** Resolves to null when an `onlyIf` precondition fails. */
  put(key: string, value: ArrayBuffer, options?: { onlyIf?: R2ConditionalLike; customMetadata?: Record<string, string> }): Promise<R2ObjectLike | null>;
  /** Deletes an object. */
  delete(key: string): Promise<void>;
  /** Lists objects by prefix, a page at a time. */
  list(options: { prefix?: string; limit?: number; cursor?: string; include?: "customMetadata"[] }): Promise<{
    objects: { key: string; customMetadata?: Record<string, string> }[];
    truncated: boolean;
    cursor?: string;
  }>;
}

/** A Durable Object id (opaque here). */
export interface DurableObjectIdLike {
  /** The id as a string. */
  toString(): string;
}

/** A Durable Object stub, spoken to over `fetch`. */
export interface DurableObjectStubLike {
  /** Sends a request to the object. */
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

/** What edgecert uses of a `DurableObjectNamespace` binding to {@link EdgecertStorageObject}. */
export interface DurableObjectNamespaceLike {
  /** The id of the object named `name`. */
  idFromName(name: string): DurableObjectIdLike;
  /** A stub for the object with that id. */
  get(id: DurableObjectIdLike): DurableObjectStubLike;
}

/** A value in a Durable Object's SQLite storage. */
export type SqlValueLike = ArrayBuffer | string | number | null;

/** What {@link EdgecertStorageObject} uses of its `DurableObjectState`: the SQLite storage API. */
export interface DurableObjectStateLike {
  /** The object's storage (its SQLite database). */
  readonly storage: {
    readonly sql: {
      exec(query: string, ...bindings: SqlValueLike[]): { toArray(): Record<string, SqlValueLike>[] };
    };
    transactionSync<T>(fn: () => T): T;
  };
}
