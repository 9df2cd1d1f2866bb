import { describe, expect, it } from "vitest";
import type { CertificateManager, CertificateManagerOptions, ManagedCertificate } from "../../src/manager/index.ts";
import { isEdgecertError } from "../../src/errors.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { parseCertificate } from "../../src/webcrypto/x509.ts";
import { Crash, crashable } from "../support/crashable.ts";
import { acceptedChallenges, bedManager, untilChallengesSettled, useManagerBed } from "../support/manager-bed.ts";
import { countingFetch, type CountingFetch } from "../support/request-counter.ts";
import { storedCertificateRecords } from "../support/served-choice.ts";
import { VirtualClock } from "../support/virtual-clock.ts";
import { cutOffFromLocks } from "../support/virtual-leases.ts";

/**
 * A holder that dies — or loses its lease — while the CA validates its order's authorizations, and a
 * fresh process that then takes the certificate over: the recorded order is resumed by its state
 * (RFC 8555 §7.1.6: a pending authorization is answered again, a ready order finalized, a processing
 * one polled, a valid one downloaded), never ordered anew. Real Pebble; the CA's validation requests
 * are held at the http-01 responder (test/support/validation-gate.ts), so *when* a validation ends is
 * chosen by the search, not by this machine's speed.
 *
 * The search: every request, storage put and storage delete of a 2-name issuance is a point where the
 * holder either dies (test/support/crashable.ts: its leases lapse at once) or loses its lease (cut off
 * from the lock service; leases and heartbeat on a virtual clock: it notices, gives up and cleans up
 * while its lease still stands, then the lease runs out). When validations are still held at that point,
 * they end — answered from the tokens stored at that moment — after the rerun's 0th, 1st, 2nd … request,
 * up to the rerun's own first poll of the order. Each case asserts, at the CA, exactly one newOrder and
 * one certificate (finalize), and in storage one certificate matching its key and names, no intent and
 * no http-01 token left. It prints how many cases it searched.
 *
 * A run in which Pebble gave up on a held validation (15 s) is not counted and is redone (at most 3
 * times): that is this machine's load, not the client.
 */
const bed = useManagerBed();

/** The holder's lease in the lease-loss runs, in virtual ms. */
const TTL_MS = 15_000;
let unique = 0;

const manager = (storage: Storage, extra: Partial<CertificateManagerOptions> = {}): CertificateManager => bedManager(bed, storage, extra);

const urlOf = (input: RequestInfo | URL): string => (typeof input === "string" ? input : input instanceof URL ? input.href : input.url);

/** What a request to Pebble is, by its path. */
function kindOf(url: string): string {
  const path = new URL(url).pathname;
  const kinds: Array<[string, string]> = [
    ["/dir", "directory"],
    ["/nonce-plz", "nonce"],
    ["/sign-me-up", "account"],
    ["/order-plz", "new-order"],
    ["/my-order/", "order"],
    ["/authZ/", "authz"],
    ["/chalZ/", "challenge"],
    ["/finalize-order/", "finalize"],
    ["/certZ/", "certificate"],
  ];
  return kinds.find(([prefix]) => path.startsWith(prefix))?.[1] ?? path;
}

/**
 * One request at a time, so that a 2-name run's two lanes send their requests in the same order in
 * every run: the probe's Nth request is the Nth of every later run.
 */
function oneAtATime(inner: typeof fetch): typeof fetch {
  let tail: Promise<unknown> = Promise.resolve();
  return (input, init) => {
    const sent = tail.then(() => inner(input, init));
    tail = sent.catch(() => undefined);
    return sent;
  };
}

/**
 * {@link crashable} whose request points skip nonce requests (RFC 8555 §7.2 newNonce): how many of
 * those a client sends depends on its latency estimate (it fetches nonces ahead when the CA seems far,
 * as it may under load), the other requests do not.
 */
function crashableSkippingNonces(inner: { fetch: typeof fetch; storage: Storage }, point: Point, fault?: () => Promise<void>) {
  const process = crashable(inner, point, fault);
  const counted = process.fetch;
  const fetchFn: typeof fetch = (input, init) =>
    kindOf(urlOf(input)) !== "nonce" ? counted(input, init) : process.dead ? Promise.reject(new Crash()) : inner.fetch(input, init);
  return Object.assign(process, { fetch: fetchFn });
}

/** The requests' kinds, nonce requests left out (see {@link crashableSkippingNonces}). */
const stepKinds = (ca: CountingFetch): string[] => ca.requests.map((r) => kindOf(r.url)).filter((k) => k !== "nonce");

/** Ends the held validations: the gate opens, and the challenges accepted so far settle at the CA. */
async function endValidations(storage: Storage, ca: CountingFetch): Promise<void> {
  if (!bed.validations.closed) return;
  bed.validations.open();
  await untilChallengesSettled(bed, storage, acceptedChallenges(ca.requests));
}

/**
 * `inner` for one process: once it accepted a challenge, the held validations end before it asks for
 * the order or finalizes (one poll finds the order settled: every run sends the same requests); with
 * `endAfter`, also right after its `endAfter`-th request besides nonce requests (0: before its first).
 */
function validationsEndingIn(inner: typeof fetch, storage: Storage, ca: CountingFetch, endAfter?: number) {
  let sent = 0;
  let accepted = false;
  let endedAt: "request" | "poll" | undefined;
  let firstOrderStatus: string | undefined;
  const end = async (why: "request" | "poll") => {
    if (!bed.validations.closed) return;
    endedAt = why;
    await endValidations(storage, ca);
  };
  const fetchFn: typeof fetch = async (input, init) => {
    if (endAfter === 0 && sent === 0) await end("request");
    const kind = kindOf(urlOf(input));
    if (accepted && (kind === "order" || kind === "finalize")) await end("poll");
    const res = await inner(input, init);
    if (kind === "challenge") accepted = true;
    if (kind === "order" && firstOrderStatus === undefined) firstOrderStatus = String(((await res.clone().json()) as { status?: unknown }).status);
    if (kind !== "nonce" && ++sent === endAfter) await end("request");
    return res;
  };
  return {
    fetch: fetchFn,
    /** Whether the validations ended after the `endAfter`-th request, at a poll, or not in this process. */
    get endedAt() {
      return endedAt;
    },
    /** The status of the order the first time this process read it (a rerun: the recorded order it resumed). */
    get firstOrderStatus() {
      return firstOrderStatus;
    },
  };
}

type Point = { request: number } | { put: number } | { delete: number };
type Mode = "crash" | "lease lost";

/** A holder's storage that can be cut off from the lock service (its leases on `clock`); `cut` waits until its heartbeat noticed. */
function cutOffLater(storage: Storage, clock: VirtualClock) {
  const locks = cutOffFromLocks(storage, clock);
  return {
    storage: locks.storage,
    /** Cuts the holder off and moves its clock until its heartbeat notices (a third of the TTL). */
    async cut(): Promise<void> {
      locks.cut();
      await clock.advance(TTL_MS / 3 + 500, 250);
    },
  };
}

interface Case {
  point: Point;
  mode: Mode;
  /** When the held validations end: after this many of the rerun's requests (or at its first poll). */
  endAfter: number | undefined;
}

interface Outcome {
  /** The holder reached the point with validations still held. */
  held: boolean;
  /** How the rerun ended them: after request `endAfter`, at its first poll, or none were held. */
  endedAt: "request" | "poll" | undefined;
  /** Pebble gave up on a held validation: redo. */
  abandoned: boolean;
  /** The holder finished before the point (fewer requests than the probe: a poll fewer after finalize). */
  unreached: boolean;
  /** The recorded order's status when the rerun read it (undefined: it resumed none). */
  resumed?: string | undefined;
  /** The holder sent the probe's requests up to the point. */
  sameSteps: boolean;
}

async function runCase(c: Case, probeKinds: string[]): Promise<Outcome> {
  const storage = (bed.tokens = new MemoryStorage());
  const list = [`a${++unique}.resume.test`, `b${unique}.resume.test`];
  const ca = countingFetch(bed.pebble.fetch);
  const abandonedBefore = bed.abandoned;
  const where = `${JSON.stringify(c.point)} ${c.mode}, validations ending after rerun request ${c.endAfter ?? "-"}`;
  bed.validations.close();
  try {
    // The holder.
    const clock = new VirtualClock();
    const cutOff = c.mode === "lease lost" ? cutOffLater(storage, clock) : undefined;
    const holderFetch = validationsEndingIn(oneAtATime(ca.fetch), storage, ca);
    const holder = crashableSkippingNonces({ fetch: holderFetch.fetch, storage: cutOff?.storage ?? storage }, c.point, cutOff && (() => cutOff.cut()));
    const lease = cutOff ? { lockTtlMs: TTL_MS, sleep: clock.sleep, leaseClock: clock.now } : {};
    const first = await manager(holder.storage, { fetch: holder.fetch, ...lease })
      .manage(list)
      .catch((err: unknown) => err);
    const kinds = stepKinds(ca);
    // The point is the probe's step when the requests so far are the probe's. (Far from the CA — as
    // it may seem under load — the client finalizes in place of its first poll.)
    const sameSteps = kinds.join() === probeKinds.slice(0, kinds.length).join();
    if (!holder.reached) {
      // Only a poll after finalize can be missing (Pebble issues in the background).
      expect(first, where).not.toBeInstanceOf(Error);
      return { held: false, endedAt: undefined, abandoned: false, unreached: true, sameSteps };
    }
    if (!cutOff) expect(first, where).toBeInstanceOf(Error);
    else if (first instanceof Error) {
      // It gave up on its lease; now the lease runs out at the lock service too. (Cut off after its
      // last CA request, a holder may also finish.)
      expect(isEdgecertError(first, "lease_lost"), `${where}: ${String(first)}`).toBe(true);
      await clock.advance(TTL_MS, 500);
    }
    const held = bed.validations.closed && acceptedChallenges(ca.requests).length > 0;

    // The rerun: a fresh process on the same storage.
    const rerunFetch = validationsEndingIn(oneAtATime(ca.fetch), storage, ca, held ? c.endAfter : undefined);
    const cert = await manager(storage, { fetch: rerunFetch.fetch }).manage(list);
    await endValidations(storage, ca);
    if (bed.abandoned > abandonedBefore) return { held, endedAt: rerunFetch.endedAt, abandoned: true, unreached: false, sameSteps };

    const requests = ca.requests.map((r) => `${r.method} ${kindOf(r.url)} ${r.status}`);
    const story = `${where}\n  ${requests.join(", ")}`;
    expect(ca.requests.filter((r) => kindOf(r.url) === "new-order").length, `newOrder requests: ${story}`).toBe(1);
    expect(ca.requests.filter((r) => kindOf(r.url) === "finalize" && r.status === 200).length, `finalized: ${story}`).toBe(1);
    await expectIssued(storage, cert, list, story);
    return { held, endedAt: rerunFetch.endedAt, abandoned: false, unreached: false, resumed: rerunFetch.firstOrderStatus, sameSteps };
  } finally {
    bed.validations.open();
  }
}

async function expectIssued(storage: Storage, cert: ManagedCertificate, list: string[], story: string): Promise<void> {
  const records = await storedCertificateRecords(storage);
  expect(records.length, story).toBe(1);
  expect(parseCertificate(cert.chainPem).dnsNames.sort(), story).toEqual([...list].sort());
  expect(await manager(storage).getCertificate(list[0]!).then((c) => c?.serialNumber), story).toBe(cert.serialNumber);
  expect((await storage.list("orders/")).keys, `intents left: ${story}`).toEqual([]);
  expect((await storage.list("challenges/")).keys, `tokens left: ${story}`).toEqual([]);
}

describe("resuming an order whose validation is still running", () => {
  it("a holder that dies or loses its lease at any step, validations ending at any step of the rerun: one newOrder, one certificate", async () => {
    // The probe: the requests, puts and deletes of one issuance, validations ending at its first poll.
    const probeStorage = (bed.tokens = new MemoryStorage());
    const probeCa = countingFetch(bed.pebble.fetch);
    bed.validations.close();
    const probe = crashable({ fetch: validationsEndingIn(oneAtATime(probeCa.fetch), probeStorage, probeCa).fetch, storage: probeStorage }, {});
    await manager(probe.storage, { fetch: probe.fetch }).manage([`a${++unique}.probe.test`, `b${unique}.probe.test`]);
    bed.validations.open();
    const probeKinds = stepKinds(probeCa);
    const points: Point[] = [
      ...probeKinds.map((_, i) => ({ request: i + 1 })),
      ...Array.from({ length: probe.puts }, (_, i) => ({ put: i + 1 })),
      ...Array.from({ length: probe.deletes }, (_, i) => ({ delete: i + 1 })),
    ];

    let cases = 0;
    let heldCases = 0;
    let redone = 0;
    let unreached = 0;
    let otherSteps = 0;
    const resumed = new Map<string, number>();
    for (const point of points) {
      for (const mode of ["crash", "lease lost"] as const) {
        // endAfter 0, 1, 2 … while the rerun still had held validations to end after that request.
        for (let endAfter = 0; ; endAfter++) {
          let outcome: Outcome | undefined;
          for (let attempt = 1; attempt <= 3; attempt++) {
            outcome = await runCase({ point, mode, endAfter }, probeKinds);
            if (!outcome.abandoned) break;
            redone++;
          }
          expect(outcome!.abandoned, `${JSON.stringify(point)} ${mode}: Pebble gave up on a held validation 3 times`).toBe(false);
          cases++;
          if (outcome!.unreached) unreached++;
          if (!outcome!.sameSteps) otherSteps++;
          const met = outcome!.resumed === undefined ? "none" : `${outcome!.resumed}${outcome!.held ? " (validating)" : ""}`;
          resumed.set(met, (resumed.get(met) ?? 0) + 1);
          if (!outcome!.held) break;
          heldCases++;
          if (outcome!.endedAt !== "request") break;
        }
      }
    }
    console.log(
      `resume while validating: ${points.length} points (${probeKinds.length} requests besides nonces: ${probeKinds.join(" ")}; ${probe.puts} puts, ${probe.deletes} deletes) x {crash, lease lost}: ${cases} cases, ${heldCases} with validations still running at the rerun; ${unreached} points past a shorter run, ${otherSteps} on other steps than the probe's; ${redone} redone after Pebble gave up on a held validation; the recorded order the rerun met: ${[...resumed].map(([k, v]) => `${k} ${v}`).join(", ")}`,
    );
    expect(unreached).toBeLessThanOrEqual(4);
  }, 600_000);

  it("a holder that dies right after finalize, the order still processing when the rerun reads it: polled and downloaded, not finalized again", async () => {
    // Pebble issues within milliseconds of finalize, so the rerun's first read of the order is shown as
    // `processing` (RFC 8555 §7.4: the CA is issuing; no certificate URL yet) by rewriting that one response.
    const storage = (bed.tokens = new MemoryStorage());
    const list = [`a${++unique}.processing.test`, `b${unique}.processing.test`];
    const ca = countingFetch(bed.pebble.fetch);
    const holder = crashable({ fetch: ca.fetch, storage }, { requestUrl: /\/finalize-order\// });
    await expect(manager(holder.storage, { fetch: holder.fetch }).manage(list)).rejects.toThrow();
    expect(holder.dead).toBe(true);
    let shown = false;
    const processingOnce: typeof fetch = async (input, init) => {
      const res = await ca.fetch(input, init);
      if (shown || kindOf(urlOf(input)) !== "order") return res;
      shown = true;
      const { certificate: _issued, ...order } = (await res.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...order, status: "processing" }), { status: res.status, headers: res.headers });
    };
    const cert = await manager(storage, { fetch: processingOnce }).manage(list);
    const story = ca.requests.map((r) => `${r.method} ${kindOf(r.url)} ${r.status}`).join(", ");
    expect(shown, story).toBe(true);
    expect(ca.requests.filter((r) => kindOf(r.url) === "new-order").length, story).toBe(1);
    expect(ca.requests.filter((r) => kindOf(r.url) === "finalize").length, story).toBe(1);
    await expectIssued(storage, cert, list, story);
  });
});
