import { describe, expect, it } from "vitest";
import { useFaultProxyBed } from "../support/fault-proxy-bed.ts";
import { EdgecertError } from "../../src/errors.ts";
import { AcmeClient, generateKeyPair, obtainCertificate, parseCertificate } from "../../src/index.ts";
import { CertificateManager, type Sleep } from "../../src/manager/index.ts";
import { MemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { VirtualClock } from "../support/virtual-clock.ts";
import { virtualLeases } from "../support/virtual-leases.ts";

// Issue 23 defect 2 / invariant 9: a lock holder paused past its lease must send nothing to the CA.
//
// A real pause (SIGSTOP, a stalled VM, a long GC) stops the holder's timers too, and on resume its work
// can run on before its watchdog fires. Modelled deterministically: holder A reaches a barrier right
// before a state-changing request (the intent write before newOrder, the authorization read before a
// challenge accept, the accept's answer before finalize) and its lock timers (heartbeat, watchdog) are
// frozen from then on — the worst order a resumed process can run in. B takes the lock once A's lease
// lapsed and issues. A is released after 2 × its lease, timers still frozen, and runs until it settles.
// Counted on the wire: what A sent afterwards (its own fetch) and the orders created AT THE CA (the
// proxy's record of Pebble's 201s). On the old code A sent its newOrder / accept / finalize anyway.
//
// Every lease, lock timer and send guard runs on one virtual clock (test/support/virtual-clock.ts,
// virtual-leases.ts) that moves only when the test moves it: a holder keeps its lease across any number
// of real CA round trips however loaded the machine is, and A's lapses exactly when the test lets time
// pass while A stands still (a real 2 s lease was lost under load before A reached its pause).

const TTL_MS = 15_000;

const bed = useFaultProxyBed();
const { http01 } = bed;

/** A's pause: a one-shot barrier in its work, and lock timers that stand still while it is engaged. */
class Pause {
  frozen = false;
  pausedAt = 0;
  readonly engaged: Promise<void>;
  #engage!: () => void;
  #release!: () => void;
  #released: Promise<void>;
  #thaw!: () => void;
  #thawed: Promise<void>;

  constructor(private readonly clock: VirtualClock) {
    this.engaged = new Promise((r) => (this.#engage = r));
    this.#released = new Promise((r) => (this.#release = r));
    this.#thawed = new Promise((r) => (this.#thaw = r));
  }

  /** Called by A's work at the pause point: stops its timers and waits for {@link release}. */
  async hold(): Promise<void> {
    this.frozen = true;
    this.pausedAt = this.clock.now();
    this.#engage();
    await this.#released;
  }

  release(): void {
    this.#release();
  }

  thaw(): void {
    this.frozen = false;
    this.#thaw();
  }

  /** The lock runner's timer, on the virtual clock: one that expires while frozen fires only after {@link thaw}. */
  readonly sleep: Sleep = async (ms, signal) => {
    await this.clock.sleep(ms, signal);
    if (!this.frozen || signal.aborted) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      void this.#thawed.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  };
}

type PausePoint = "newOrder" | "challenge accept" | "finalize";

/** Storage for A: pauses after the intent write that precedes newOrder. */
function pausingStorage(inner: Storage, pause: Pause, at: PausePoint): Storage {
  let done = false;
  return {
    get: (k) => inner.get(k),
    getEntry: (k) => inner.getEntry(k),
    put: async (k, v, w) => {
      const version = await inner.put(k, v, w);
      if (at === "newOrder" && !done && k.startsWith("orders/")) {
        done = true;
        await pause.hold();
      }
      return version;
    },
    delete: (k, w) => inner.delete(k, w),
    list: (p, o) => inner.list(p, o),
    lock: (n, o) => inner.lock(n, o),
  };
}

/** A's fetch: pauses on the answer before the chosen request, and records what A sends after that. */
function pausingFetch(inner: typeof fetch, pause: Pause, at: PausePoint, sentAfter: string[]): typeof fetch {
  let done = false;
  return async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? "GET").toUpperCase();
    if (pause.pausedAt > 0 && method === "POST" && hasPayload(init?.body)) sentAfter.push(`${method} ${new URL(url).pathname}`);
    const res = await inner(input, init);
    const before =
      (at === "challenge accept" && url.includes("/authZ/")) || (at === "finalize" && url.includes("/chalZ/") && hasPayload(init?.body));
    if (!done && before && res.ok) {
      done = true;
      await pause.hold();
    }
    return res;
  };
}

/** Whether a JWS body carries a payload: a state-changing request, not a POST-as-GET (RFC 8555 §6.3). */
function hasPayload(body: unknown): boolean {
  if (typeof body !== "string") return false;
  try {
    return (JSON.parse(body) as { payload?: string }).payload !== "";
  } catch {
    return false;
  }
}

/** A manager whose leases, lock timers and send guard run on `clock` (A passes its pausing `sleep`). */
const manager = (storage: Storage, clock: VirtualClock, fetchFn: typeof fetch, options: { sleep?: Sleep; email?: string } = {}) =>
  new CertificateManager({
    sleep: clock.sleep,
    ...options,
    storage,
    directoryUrl: bed.proxy.directoryUrl,
    fetch: fetchFn,
    termsOfServiceAgreed: true,
    solvers: { "http-01": http01 },
    lockTtlMs: TTL_MS,
    leaseClock: clock.now,
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
  });

describe("the send guard is asked before every state-changing request (invariant 9)", () => {
  // Call sites pass the guard explicitly: this catches one that does not. Every POST with a payload
  // that left the client must have been cleared by the guard first, near and far from the CA (far
  // mode finalizes early and fetches nonces in parallel), with a new account (newAccount guarded too).
  it.each(["never", "always"] as const)("parallelNonces %s: guard calls = state-changing requests sent", async (parallelNonces) => {
    const asked: string[] = [];
    const sent: string[] = [];
    const fetchFn: typeof fetch = (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if ((init?.method ?? "GET").toUpperCase() === "POST" && hasPayload(init?.body)) sent.push(url);
      return bed.proxy.fetch(input, init);
    };
    const client = new AcmeClient({ directoryUrl: bed.proxy.directoryUrl, accountKey: await generateKeyPair(), fetch: fetchFn, parallelNonces });
    const names = [`guarded-${parallelNonces}-1.example.test`, `guarded-${parallelNonces}-2.example.test`];
    await obtainCertificate({ termsOfServiceAgreed: true, client, names, solvers: { "http-01": http01 }, guard: ({ url }) => void asked.push(url) });
    // newAccount, newOrder, 2 accepts, finalize at least.
    expect(sent.length).toBeGreaterThanOrEqual(5);
    expect([...asked].sort()).toEqual([...sent].sort());
  });
});

let n = 0;
describe("a holder paused past its lease sends nothing to the CA (issue 23 defect 2, invariant 9)", () => {
  it.each<PausePoint>(["newOrder", "challenge accept", "finalize"])("paused right before %s for 2 × its lease", async (at) => {
    const clock = new VirtualClock();
    const inner = virtualLeases(new MemoryStorage(), clock);
    const names = [`paused${++n}.example.test`];
    // The account exists before the race, as in a fleet that has been running.
    await manager(inner, clock, bed.proxy.fetch).manage([`warmup${n}.example.test`]);
    const pause = new Pause(clock);
    const sentAfter: string[] = [];
    const a = manager(pausingStorage(inner, pause, at), clock, pausingFetch(bed.proxy.fetch, pause, at, sentAfter), { sleep: pause.sleep });
    const aDone = a.manage(names).then(
      () => undefined,
      (err: unknown) => err,
    );
    await pause.engaged;
    const atPause = bed.proxy.requests.length;
    // A stands still while its lease runs out (its timers frozen: no renewal), then B takes the lock.
    await clock.advance(TTL_MS + 1_000, 500);
    expect(inner.lapses).toBe(1);
    // B runs with its own account, so it orders anew rather than carrying on A's recorded order: what A
    // sends on resume then lands on an order nobody else finishes (a second order, a second certificate).
    const issuedByB = await manager(inner, clock, bed.proxy.fetch, { email: `b${n}@example.test` }).manage(names);
    // A's pause lasts 2 × its lease in all.
    await clock.advance(pause.pausedAt + 2 * TTL_MS - clock.now(), 500);
    pause.release();
    // A runs until it settles with its timers still frozen (bounded: the safety timer thaws them).
    const safety = setTimeout(() => pause.thaw(), 60_000);
    const aError = await aDone;
    clearTimeout(safety);
    pause.thaw();

    // At the CA, from A's pause on: the orders created and the certificates issued (finalize answered 200).
    const sincePause = bed.proxy.requests.slice(atPause);
    const ordersAtCa = sincePause.filter((r) => r.method === "POST" && r.path === "/order-plz" && r.upstreamStatus === 201).length;
    const issuedAtCa = sincePause.filter((r) => r.method === "POST" && r.path.startsWith("/finalize-order/") && r.upstreamStatus === 200).length;
    console.log(
      `paused before ${at}: A sent ${sentAfter.length} state-changing request(s) after its pause [${sentAfter.join(", ")}]; ` +
        `at the CA since the pause: ${ordersAtCa} order(s) created, ${issuedAtCa} certificate(s) issued; A ended with ${String(aError)}`,
    );
    expect(sentAfter).toEqual([]);
    expect(ordersAtCa).toBe(1);
    expect(issuedAtCa).toBe(1);
    expect(aError).toBeInstanceOf(EdgecertError);
    expect((aError as EdgecertError).code).toBe("lease_lost");
    // B's certificate is the one stored and served.
    expect(parseCertificate(issuedByB.chainPem).dnsNames).toEqual(names);
    expect((await manager(inner, clock, bed.proxy.fetch).getCertificate(names[0]!))?.serialNumber).toBe(parseCertificate(issuedByB.chainPem).serialNumber);
  }, 90_000);
});
