import { afterAll, beforeAll, expect, vi } from "vitest";
import { AcmeClient } from "../../src/acme/client.ts";
import { importPrivateKeyPem } from "../../src/webcrypto/keys.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startPebble, type PebbleInstance } from "./pebble.ts";

/** Pebble plus an http-01 responder answering from `tokens` (swap it per test to break validation). */
export interface ManagerBed {
  readonly pebble: PebbleInstance;
  /** The storage whose http-01 tokens the responder serves, read on every validation. */
  tokens: Storage;
}

/** Starts Pebble and its http-01 responder for the test file (beforeAll / afterAll). */
export function useManagerBed(): ManagerBed {
  let pebble: PebbleInstance | undefined;
  let http: Http01Server | undefined;
  const bed = {
    get pebble(): PebbleInstance {
      if (!pebble) throw new Error("the manager bed is not started");
      return pebble;
    },
    tokens: new MemoryStorage() as Storage,
  };
  beforeAll(async () => {
    pebble = await startPebble();
    http = await serveHttp01(pebble.httpPort, {
      respond: (path) => new StorageHttp01Solver(bed.tokens).response(path.split("/").pop() ?? ""),
    });
  });
  afterAll(async () => {
    await http?.close();
    await pebble?.stop();
  });
  return bed;
}

/**
 * Waits until the CA has finished validating what a crashed run asked it to: every authorization, of
 * the orders recorded in `storage`'s order intents, that has one of `accepted` (challenge URLs the run
 * POSTed to, see {@link acceptedChallenges}) is polled at the CA until it is no longer pending, bounded
 * at 30 s. A crash test's rerun comes after this, as in production, where the dead holder's lease
 * outlasts any validation; a rerun that met the validation still running ordered anew.
 */
export async function untilAcceptedChallengesValidated(bed: ManagerBed, storage: Storage, accepted: readonly string[]): Promise<void> {
  if (accepted.length === 0) return;
  const read = async (key: string) => JSON.parse(new TextDecoder().decode(await storage.get(key))) as Record<string, string | undefined>;
  const [accountKey] = (await storage.list("accounts/")).keys;
  if (accountKey === undefined) return;
  const keyPair = await importPrivateKeyPem((await read(accountKey)).keyPem!);
  for (const key of (await storage.list("orders/")).keys) {
    const intent = await read(key);
    if (!intent.orderUrl || !intent.accountUrl) continue;
    const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, fetch: bed.pebble.fetch, accountKey: keyPair, accountUrl: intent.accountUrl });
    for (const authz of (await client.getOrder(intent.orderUrl)).authorizations) {
      if (!(await client.getAuthorization(authz)).challenges.some((c) => accepted.includes(c.url))) continue;
      await vi.waitFor(async () => expect((await client.getAuthorization(authz)).status, authz).not.toBe("pending"), { timeout: 30_000, interval: 20 });
    }
  }
}

/** The challenge URLs among `requests` that were POSTed to and answered 200 (obtainCertificate POSTs to a challenge only to accept it). */
export function acceptedChallenges(requests: ReadonlyArray<{ method: string; url: string; status: number }>): string[] {
  return requests.filter((r) => r.method === "POST" && r.status === 200 && r.url.includes("/chalZ/")).map((r) => r.url);
}
