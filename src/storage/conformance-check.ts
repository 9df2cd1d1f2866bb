/**
 * Failure helpers and shared steps of the storage conformance suite (`edgecert/storage/conformance`):
 * plain `Error`s, no assertion library, so the suite runs under any test runner.
 */
import { isEdgecertError, type EdgecertErrorCode } from "../errors.ts";
import type { Fence, Lease, Storage, StorageEntry } from "./storage.ts";

/** Registers one case of a group: `run` gets a fresh storage from the backend's factory. */
export type AddCase = (name: string, run: (s: Storage) => Promise<void>) => void;

/** The longest any case waits for the backend to do something it must do eventually (a lease to lapse, a waiter to get the lock). */
export const EVENTUALLY_MS = 30_000;

/** Throws `Error(message)` unless `condition`. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * Resolves with the error `promise` rejects with; throws unless it is an `EdgecertError` with `code`.
 * Exported for backend-specific tests that want the suite's failure style.
 */
export async function expectRefusal(promise: Promise<unknown>, code: EdgecertErrorCode): Promise<Error> {
  let result: unknown;
  try {
    result = await promise;
  } catch (error) {
    if (!isEdgecertError(error, code)) throw new Error(`expected EdgecertError(${code}), got ${String(error)}`, { cause: error });
    return error;
  }
  throw new Error(`expected EdgecertError(${code}), but it resolved with ${String(result)}`);
}

/** The entry at `key`; throws when there is none. */
export async function entryOf(s: Storage, key: string): Promise<StorageEntry> {
  const entry = await s.getEntry(key);
  if (entry === undefined) throw new Error(`getEntry(${JSON.stringify(key)}) is undefined, expected a value`);
  return entry;
}

/** Throws unless `key` still holds `before`'s value and version. */
export async function unchanged(s: Storage, key: string, before: StorageEntry): Promise<void> {
  const now = await s.getEntry(key);
  check(now !== undefined, `a refused write removed ${JSON.stringify(key)}`);
  check(sameBytes(now.value, before.value), `a refused write changed the value of ${JSON.stringify(key)}`);
  check(now.version === before.version, `a refused write changed the version of ${JSON.stringify(key)} (${before.version} → ${now.version})`);
}

/** Throws unless `bytes` is the UTF-8 of `expected`. */
export function checkText(bytes: Uint8Array | undefined, expected: string, what: string): void {
  const actual = bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The lease as a bare fence: no `expiresAt`, so only the backend judges it. */
export function plain(lease: Lease): Fence {
  return { name: lease.name, token: lease.token };
}

/** A fresh label, so cases never meet another case's keys or locks. */
export function unique(label: string): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until the backend itself treats `lease` as lapsed: past its `expiresAt` by the local clock, then
 * polling a fenced write of `probeKey` (harmless while the lease still holds) until it is refused with
 * `lease_lost`, for at most {@link EVENTUALLY_MS}. Polling, not a fixed sleep: a slow machine or a backend
 * whose clock runs behind only makes it take longer.
 */
export async function untilLapsed(s: Storage, lease: Lease, probeKey: string): Promise<void> {
  await sleep(Math.max(0, lease.expiresAt - Date.now()));
  const deadline = Date.now() + EVENTUALLY_MS;
  for (;;) {
    try {
      await s.put(probeKey, "probe", { fence: plain(lease) });
    } catch (error) {
      if (isEdgecertError(error, "lease_lost")) return;
      throw error;
    }
    check(Date.now() < deadline, `lease ${lease.name} (token ${lease.token}) still accepted fenced writes ${EVENTUALLY_MS} ms after it expired`);
    await sleep(50);
  }
}
