/**
 * The in-process stand-in CA (stand-in-ca.ts) as the ACME server of a Worker in workerd, for what
 * Pebble 2.4 cannot serve: issuing 100,000 certificates in one run. Pebble's memory store walks every
 * authorization it ever made under one lock on each newOrder, whatever PEBBLE_AUTHZREUSE says, and
 * with hundreds of orders open it deadlocks against AddAuthorization/AddChallenge (docs/performance.md,
 * "Onboarding through the Worker"); the stand-in keeps its state in maps and answers at once.
 *
 * Its http-01 validation is real (RFC 8555 §8.3): it fetches
 * `http://<name>/.well-known/acme-challenge/<token>` from the Worker's own listener (the Host header
 * names the identifier, as a CA resolving `<name>` to the Worker would send), and compares the body,
 * trailing whitespace ignored, with the key authorization.
 * @module
 */
import { request } from "undici";
import { StandInCa } from "./stand-in-ca.ts";
import { freePort } from "./redis-server.ts";
import type { WorkerCa } from "./worker.ts";

const DAY = 86_400_000;

/** The stand-in, the `WorkerCa` to start a Worker with, and where its validator finds the Worker. */
export interface WorkerStandInCa {
  ca: StandInCa;
  target: WorkerCa;
  /** Tells the validator where the Worker listens (its `url` once started). */
  validateAgainst(url: URL): void;
  /** http-01 fetches it made, and how many did not find the key authorization. */
  validations: { fetched: number; missed: number };
}

/** A stand-in CA (90-day certificates, no ARI) serving a Worker in workerd. */
export async function workerStandInCa(): Promise<WorkerStandInCa> {
  let worker: URL | undefined;
  const validations = { fetched: 0, missed: 0 };
  const ca = new StandInCa({
    now: Date.now,
    lifetimeMs: 90 * DAY,
    token: async (token, name) => {
      if (!worker) throw new Error("the stand-in CA validated before it was told where the Worker listens");
      validations.fetched++;
      const res = await request(new URL(`/.well-known/acme-challenge/${token}`, worker), { headers: { host: name } });
      const body = await res.body.text();
      // RFC 8555 §8.3: the server SHOULD ignore whitespace characters at the end of the body.
      if (res.statusCode === 200) return body.trimEnd();
      validations.missed++;
      return undefined;
    },
  });
  return {
    ca,
    target: { directoryUrl: ca.directoryUrl, fetch: ca.fetch, httpPort: await freePort() },
    validateAgainst(url) {
      worker = url;
    },
    validations,
  };
}
