/**
 * One behavioural contract for every {@link Storage} backend. Each backend's test file calls
 * `runStorageConformance(name, makeStorage)`; the same suite runs under Node and inside workerd.
 * Tests use a fresh random key prefix and lock names, so backends may share state between tests.
 * Every case is the exported suite's (`edgecert/storage/conformance`): this file hands it vitest's
 * `describe`/`it` and the replay seed. Its seeded cases take their seed from `EDGECERT_STORAGE_SEED`
 * (under Node the environment variable, inside workerd the binding of that name, which
 * vitest.config.ts fills from the same variable).
 */
import { describe, it } from "vitest";
import { expectRefusal, runStorageConformance as runExportedConformance } from "../../src/storage/conformance.ts";
import type { Storage } from "../../src/storage/storage.ts";

/** Resolves with the error `promise` rejects with; fails the test if it resolves or has another code. */
export const expectCode = expectRefusal;

/** The replay seed from `EDGECERT_STORAGE_SEED`, when set (`binding`: the workerd binding's value). */
export function conformanceSeed(binding?: string): number | undefined {
  const text = binding ?? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.EDGECERT_STORAGE_SEED;
  if (text === undefined || text === "") return undefined;
  const seed = Number(text);
  if (!Number.isInteger(seed)) throw new Error(`EDGECERT_STORAGE_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed;
}

export function runStorageConformance(name: string, makeStorage: () => Storage | Promise<Storage>, seed: number | undefined = conformanceSeed()): void {
  runExportedConformance(name, makeStorage, { describe, it }, seed === undefined ? {} : { seed });
}
