/**
 * `edgecert/storage/file`: the file-system backend, for Node, Deno and Bun. Separate from
 * `edgecert/storage` because it imports `node:fs`, which Workers bundles should not pull in.
 * @module
 */
export { FileStorage, type FileStorageOptions } from "./file-storage.ts";
