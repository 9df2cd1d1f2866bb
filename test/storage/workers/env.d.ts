// Types of the test bindings in wrangler.jsonc, through edgecert's structural binding types, so the
// project type-checks without the @cloudflare/workers-types globals (which clash with the DOM lib).
declare module "cloudflare:workers" {
  export const env: {
    KV: import("../../../src/storage/workers-bindings.ts").KvNamespaceLike;
    BUCKET: import("../../../src/storage/workers-bindings.ts").R2BucketLike;
    EDGECERT: import("../../../src/storage/workers-bindings.ts").DurableObjectNamespaceLike;
    /** Replay seed of the storage conformance's seeded cases ("" when unset). */
    EDGECERT_STORAGE_SEED: string;
  };
}
