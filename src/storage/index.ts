/**
 * `edgecert/storage`: the {@link Storage} interface and the backends that load in every runtime
 * (Workers included). The file-system backend is in `edgecert/storage/file`.
 * @module
 */
export type {
  Storage,
  StorageEntry,
  StorageListOptions,
  StorageListResult,
  Lease,
  LockOptions,
  Fence,
  WriteConditions,
} from "./storage.ts";
export { MemoryStorage } from "./memory-storage.ts";
export { KvStorage, type KvStorageOptions } from "./kv-storage.ts";
export { R2Storage, type R2StorageOptions } from "./r2-storage.ts";
export { DurableObjectStorage, type DurableObjectStorageOptions } from "./durable-object-storage.ts";
export { readMany, type ManyReads } from "./read-many.ts";
export { EdgecertStorageObject } from "./durable-object.ts";
export {
  CLEAR_PREFIXES,
  EncryptedStorage,
  sealedByDefault,
  type EncryptedStorageOptions,
  type EncryptionSecret,
  type ResealOutcome,
} from "./encrypted-storage.ts";
export { readText, readJson, writeJson } from "./codec.ts";
export type {
  KvNamespaceLike,
  R2BucketLike,
  R2ObjectLike,
  R2ObjectBodyLike,
  R2ConditionalLike,
  DurableObjectNamespaceLike,
  DurableObjectIdLike,
  DurableObjectStubLike,
  DurableObjectStateLike,
  SqlValueLike,
} from "./workers-bindings.ts";
export { dueIndexOf, type DueIndex, type DueEntry, type DueWriteOptions, type StorageWithDueIndex } from "./due-index.ts";
export { RedisStorage, type RedisStorageOptions } from "./redis/redis-storage.ts";
export { fromNodeRedis, fromIoredis, fromBunRedis, type RedisScriptClient, type NodeRedisLike, type IoredisLike, type BunRedisLike } from "./redis/redis-client.ts";
export { PostgresStorage, type PostgresStorageOptions } from "./postgres/postgres-storage.ts";
export { fromPg, fromPostgresJs, type PostgresQueryClient, type PostgresRow, type PgLike, type PostgresJsLike } from "./postgres/postgres-client.ts";
export { DenoKvStorage, type DenoKvStorageOptions } from "./deno-kv/deno-kv-storage.ts";
export type { DenoKvLike, KvAtomicLike, KvEntryLike, KvKeyLike } from "./deno-kv/deno-kv-like.ts";
