import { afterAll, beforeAll, expect, vi } from "vitest";
import { AcmeClient } from "../../src/acme/client.ts";
import { importPrivateKeyPem } from "../../src/webcrypto/keys.ts";
import { CertificateManager, type CertificateManagerOptions } from "../../src/manager/certificate-manager.ts";
import { StorageHttp01Solver } from "../../src/manager/storage-http01-solver.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { serveHttp01, type Http01Server } from "./challenge-servers.ts";
import { startPebble, type PebbleInstance } from "./pebble.ts";
import { ValidationGate } from "./validation-gate.ts";

/** Pebble plus an http-01 responder answering from `tokens` (swap it per test to break validation). */
export interface ManagerBed {
  readonly pebble: PebbleInstance;
  /** The storage whose http-01 tokens the responder serves, read on every validation. */
  tokens: Storage;
  /** Holds Pebble's validation requests while closed (open unless a test closes it). */
  readonly validations: ValidationGate;
  /** Validation requests Pebble gave up on before the responder answered (held past its 15 s). */
  readonly abandoned: number;
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
    validations: new ValidationGate(),
    get abandoned(): number {
      return http?.abandoned ?? 0;
    },
  };
  beforeAll(async () => {
    pebble = await startPebble();
    http = await serveHttp01(pebble.httpPort, {
      respond: async (path) => {
        await bed.validations.pass();
        return new StorageHttp01Solver(bed.tokens).response(path.split("/").pop() ?? "");
      },
    });
  });
  afterAll(async () => {
    await http?.close();
    await pebble?.stop();
  });
  return bed;
}

/**
 * A manager on the bed's Pebble over `storage` — terms agreed, client retries 1–5 ms apart (2 attempts),
 * a 20 s bound on waiting for another instance's lock — with `extra` on top.
 */
export function bedManager(bed: ManagerBed, storage: Storage, extra: Partial<CertificateManagerOptions> = {}): CertificateManager {
  return new CertificateManager({
    termsOfServiceAgreed: true,
    storage,
    directoryUrl: bed.pebble.directoryUrl,
    fetch: bed.pebble.fetch,
    retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 },
    lockWaitMs: 20_000,
    ...extra,
  });
}

/**
 * Waits until the CA has finished validating each of `challenges` (challenge URLs of orders of the
 * account stored in `storage`): polled at the CA, with a client of its own, until none is pending;
 * bounded at 30 s. Polls are not counted by any test's fetch.
 */
export async function untilChallengesSettled(bed: ManagerBed, storage: Storage, challenges: readonly string[]): Promise<void> {
  if (challenges.length === 0) return;
  const [accountKey] = (await storage.list("accounts/")).keys;
  if (accountKey === undefined) return;
  const account = JSON.parse(new TextDecoder().decode(await storage.get(accountKey))) as { url: string; keyPem: string };
  const client = new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, fetch: bed.pebble.fetch, accountKey: await importPrivateKeyPem(account.keyPem), accountUrl: account.url });
  for (const url of new Set(challenges)) {
    await vi.waitFor(async () => expect((await client.getChallenge(url)).status, url).not.toBe("pending"), { timeout: 30_000, interval: 20 });
  }
}

/** The challenge URLs among `requests` that were POSTed to and answered 200 (obtainCertificate POSTs to a challenge only to accept it). */
export function acceptedChallenges(requests: ReadonlyArray<{ method: string; url: string; status: number }>): string[] {
  return requests.filter((r) => r.method === "POST" && r.status === 200 && r.url.includes("/chalZ/")).map((r) => r.url);
}
