import { certificateId, keys } from "../../src/manager/storage-keys.ts";
import { nextCheckAt } from "../../src/manager/renewal-schedule.ts";
import { toIdentifiers } from "../../src/acme/identifiers.ts";
import { EdgecertError } from "../../src/errors.ts";
import { CertificateManager, type CertificateRecord } from "../../src/manager/index.ts";
import { importPrivateKeyPem } from "../../src/webcrypto/keys.ts";
import { certificateMatchesKey } from "../../src/webcrypto/x509.ts";
import { ModelStorage } from "./model-storage.ts";
import { expectedServedId } from "./served-choice.ts";
import { Killed, Scheduler } from "./scheduler.ts";
import { StandInCa } from "./stand-in-ca.ts";

/**
 * The deterministic interleaving search of issue 11 (run by test/manager/interleaving*.test.ts).
 * Each schedule: 2–3 manager processes share one
 * storage and one CA and run manage / maintain (ARI refresh) / renew / revoke / remove / renewDue /
 * getCertificate, while a seeded scheduler picks which storage operation or CA response happens next,
 * kills processes (restarting some), pauses one while the clock jumps past its lease, moves the clock
 * so certificates fall due and ARI windows are re-asked, and makes the CA forget orders. Checked
 * during every schedule: no older certificate replaces a newer one; every write of a certificate,
 * name, order intent or token is fenced by a live lease (or a compare-and-set); a newOrder comes
 * only from the live holder of that name set's lock, once per lease. Checked after every schedule,
 * once a fresh process has run manage() for each name set: every name is served by a fresh process,
 * with a certificate matching its key; no http-01 token of a finished authorization is left; name
 * sets that were managed and not removed were served before the repair too. Name sets are disjoint
 * or overlap (a name covered by two certificates; revoke by one name); before the repair and after
 * it, every name covered by a valid stored certificate is served by a fresh process with the
 * certificate the serving rule picks from the stored records (issue 23).
 *
 * The CA is test/support/stand-in-ca.ts (RFC 8555, see its notes): Pebble cannot be scheduled step
 * by step.
 * @module
 */

const DAY = 86_400_000;
const TTL = 15_000;
const PARALLEL = 16;
const A = "a.search.test";
const B = "b.search.test";
const C = "c.search.test";
/**
 * The name sets of a schedule, one family per schedule: disjoint, or overlapping so that a name is
 * covered by two certificates (issue 23: a shared name must stay served by the serving rule through
 * issue, renew, revoke and remove of either).
 */
const FAMILIES = [
  [[A], [B, C]],
  [[A, B], [B, C]],
  [[A], [A, B], [B, C]],
];
const NAMES = [A, B, C];
const PROTECTED = ["certificates/", "names/", "orders/", "challenges/"];
const OPS = ["manage", "manage", "maintain", "renew", "revoke", "remove", "renewDue", "serve"] as const;
type Op = { kind: (typeof OPS)[number]; set: number; byName: boolean };

/** What one schedule did and found. */
export interface Outcome {
  steps: number;
  checks: number;
  violations: string[];
  trace: string[];
  kills: number;
  staleRefused: number;
  /** Names whose served certificate a fresh process was checked to pick by the rule. */
  picks: number;
  /** Whether the schedule's name sets overlap. */
  family: "disjoint" | "overlapping";
}

/** Runs the schedule of `seed` and checks it. */
export function schedule(seed: number): Promise<Outcome> {
  const s = new Scheduler(seed, Date.UTC(2027, 0, 1));
  // Even seeds run on a storage with a due index (renewDue reads it), odd ones without (renewDue lists).
  return s.run(() => scheduleOn(s, seed % 2 === 0));
}

async function scheduleOn(s: Scheduler, dueIndex: boolean): Promise<Outcome> {
  const store = new ModelStorage(s, dueIndex);
  const withAri = s.random() < 0.5;
  const ca = new StandInCa({
    now: () => s.now,
    lifetimeMs: 30 * DAY,
    token: async (t) => {
      const v = store.peek(`challenges/http-01/${t}`);
      return v === undefined ? undefined : new TextDecoder().decode(v);
    },
    ...(withAri ? { ari: { start: 0.6, end: 0.7, retryAfterSeconds: 3 * 86_400 } } : {}),
  });
  const violations: string[] = [];
  let checks = 0;
  const check = (ok: boolean, what: string) => {
    checks++;
    if (!ok) violations.push(`${what} (at step ${s.steps})`);
  };
  const r = s.random();
  const SETS = FAMILIES[r < 0.4 ? 0 : r < 0.8 ? 1 : 2]!;
  const ids = await Promise.all(SETS.map((set) => certificateId(toIdentifiers(set))));

  // ---- checks on every accepted write
  store.onWrite = (w, before) => {
    if (PROTECTED.some((p) => w.key.startsWith(p))) {
      const casDelete = w.op === "delete" && w.key.startsWith("challenges/") && w.ifVersion !== undefined;
      check(w.fence !== undefined || casDelete, `unfenced ${w.op} of ${w.key} by ${w.actor}`);
      if (w.fence) check(store.holder(w.fence.name)?.token === w.fence.token, `${w.op} ${w.key} accepted from a lapsed lease`);
      const id = /^(?:certificates|orders)\/(.+)\.json$/.exec(w.key)?.[1];
      if (id && w.fence) check(w.fence.name === `certificate/${id}`, `${w.key} fenced by ${w.fence.name}`);
    }
    if (w.key.startsWith("certificates/") && w.op === "put" && before) {
      const older = JSON.parse(new TextDecoder().decode(before)) as CertificateRecord;
      const next = JSON.parse(w.value!) as CertificateRecord;
      check(BigInt(`0x${next.serialNumber}`) >= BigInt(`0x${older.serialNumber}`), `${w.key}: serial ${older.serialNumber} replaced by older ${next.serialNumber}`);
    }
  };
  // ---- the due index, once ready, is never later than a certificate's next check (so none is renewed late)
  const recordOf = (id: string) => {
    const v = store.peek(keys.certificate(id));
    return v === undefined ? undefined : (JSON.parse(new TextDecoder().decode(v)) as CertificateRecord);
  };
  const checkDue = (id: string, record: CertificateRecord | undefined, what: string) => {
    if (!dueIndex || !record || store.peek(keys.dueIndexReady) === undefined) return;
    const entry = store.due.get(id);
    check(entry !== undefined && entry <= nextCheckAt(record.renewal), `${what}: due entry of ${id} is ${entry ?? "missing"}, its record is next checked at ${nextCheckAt(record.renewal)}`);
  };
  store.onDueWrite = (id, actor) => checkDue(id, recordOf(id), `due-index write by ${actor}`);
  const onRecordWrite = store.onWrite;
  store.onWrite = (w, before) => {
    onRecordWrite?.(w, before);
    const id = /^certificates\/(.+)\.json$/.exec(w.key)?.[1];
    if (id && w.op === "put") checkDue(id, JSON.parse(w.value!) as CertificateRecord, `${w.key} written by ${w.actor}`);
  };
  const ordersPerLease = new Map<string, number>();
  ca.onNewOrder = (order) => {
    const set = SETS.findIndex((names) => names.slice().sort().join() === order.identifiers.map((i) => i.value).sort().join());
    const lock = `certificate/${ids[set]}`;
    const holder = store.holder(lock);
    check(holder !== undefined && holder.owner === s.requestActor, `newOrder for set ${set} by ${s.requestActor}, lock held by ${holder?.owner ?? "nobody"}`);
    const key = `${lock}#${holder?.token}`;
    ordersPerLease.set(key, (ordersPerLease.get(key) ?? 0) + 1);
    check(ordersPerLease.get(key)! <= 1, `two newOrders for set ${set} under one lease`);
  };

  // ---- processes
  const managerFor = (actor: string) =>
    new CertificateManager({
      termsOfServiceAgreed: true,
      storage: store.viewFor(actor),
      directoryUrl: ca.directoryUrl,
      fetch: s.fetchFor(actor, ca.fetch),
      now: () => s.now,
      sleep: (ms, signal) => s.sleep(actor, ms, signal),
      // The lease check before each CA request on the same virtual time as the lease itself.
      leaseClock: () => s.now,
      lockTtlMs: TTL,
      lockWaitMs: 60_000,
      retry: { maxAttempts: 1 },
    });
  /** When each set last finished a successful manage/renew/maintain, and when a remove/revoke last ran. */
  const managedAt = new Map<number, number>();
  const removedUntil = new Map<number, number>();
  const perform = async (m: CertificateManager, op: Op) => {
    const names = SETS[op.set]!;
    const began = s.steps;
    const noteRemoval = () => removedUntil.set(op.set, Infinity);
    switch (op.kind) {
      case "manage":
        await m.manage(names);
        break;
      case "maintain":
        await m.maintain(names);
        break;
      case "renew":
        await m.renew(names);
        break;
      case "revoke":
        noteRemoval();
        // By name set, or by one name: then whichever certificate serves that name (the rule's pick).
        if (op.byName) SETS.forEach((set, i) => set.includes(names[0]!) && removedUntil.set(i, Infinity));
        await m.revoke(op.byName ? names[0]! : names).catch((e: unknown) => {
          if (!(e instanceof EdgecertError && e.code === "invalid_input")) throw e;
        });
        return;
      case "remove":
        noteRemoval();
        await m.remove(names);
        return;
      case "renewDue":
        await m.renewDue();
        return;
      case "serve":
        await m.getCertificate(names[0]!);
        return;
    }
    if ((removedUntil.get(op.set) ?? -1) < began) managedAt.set(op.set, began);
  };
  const running = new Set<Promise<void>>();
  const live: string[] = [];
  let kills = 0;
  let restarts = 0;
  const spawn = (actor: string) => {
    const ops: Op[] = Array.from({ length: 2 + s.int(2) }, () => ({ kind: OPS[s.int(OPS.length)]!, set: s.int(SETS.length), byName: s.random() < 0.3 }));
    const m = managerFor(actor);
    live.push(actor);
    const run = (async () => {
      for (const op of ops) {
        try {
          await perform(m, op);
        } catch (err) {
          if (err instanceof Killed || s.isDead(actor)) return;
          // Failures are allowed under chaos (lost leases, conflicts, a CA that forgot an order);
          // crashes of another kind are bugs.
          if (!(err instanceof EdgecertError)) violations.push(`${actor} ${op.kind}: ${String(err)}`);
        }
      }
    })().finally(() => {
      running.delete(run);
      live.splice(live.indexOf(actor), 1);
    });
    running.add(run);
  };
  const processes = 2 + s.int(2);
  for (let i = 0; i < processes; i++) spawn(`p${i}`);

  // ---- the schedule
  while (running.size > 0) {
    if (s.steps > 20_000) {
      violations.push("the processes did not finish within 20 000 steps");
      break;
    }
    // Events happen at rest points: a process is killed or paused at one of its storage or CA calls.
    await s.settle();
    const r = s.random();
    if (r < 0.01 && kills < 2 && live.length > 0) {
      const victim = live[s.int(live.length)]!;
      s.kill(victim);
      kills++;
      if (s.random() < 0.7) spawn(`r${restarts++}`);
    } else if (r < 0.02 && live.length > 0) {
      // A GC pause or partition: the victim stands still while the clock passes its lease.
      s.pause(live[s.int(live.length)]!, 30 + s.int(60));
      await s.advance(TTL + s.int(2 * TTL));
    } else if (r < 0.035) {
      await s.advance(s.int(12) * DAY + s.int(DAY));
    } else if (r < 0.04) {
      const pending = [...ca.orders.values()].filter((o) => o.status === "pending" || o.status === "ready");
      if (pending.length > 0) ca.forget(pending[s.int(pending.length)]!.url);
    }
    if (!(await s.step()) && running.size > 0) {
      await s.settle();
      if (s.idle) {
        violations.push("deadlock: processes wait for nothing that can happen");
        break;
      }
    }
  }
  // Whatever a killed process still had in flight is gone with it.
  const drive = async <T>(work: Promise<T>): Promise<T> => {
    let done = false;
    const tracked = work.finally(() => {
      done = true;
    });
    tracked.catch(() => undefined);
    while (!done) {
      if (!(await s.step())) await s.settle();
      if (s.steps > 40_000) throw new Error("recovery did not finish");
    }
    return tracked;
  };
  const servedBy = async (actor: string, set: number) => {
    const fresh = managerFor(actor);
    for (const name of SETS[set]!) {
      const cert = await drive(fresh.getCertificate(name));
      check(cert !== undefined && cert.names.includes(name) && cert.notAfter.getTime() > s.now, `${name} not served by a fresh process (${actor})`);
      if (cert) check(await certificateMatchesKey(cert.chainPem, await importPrivateKeyPem(cert.keyPem)), `${name}: served certificate does not match its key`);
    }
  };

  // ---- after the schedule, with no repair pass: every name covered by a valid stored certificate is
  // served by the rule's pick from the stored records (src/manager/pick-served-certificate.ts), in a
  // fresh process; a name covered by none is not served with a valid one.
  let picks = 0;
  const checkPicks = async (actor: string) => {
    for (const name of NAMES) {
      const records = store.keys("certificates/").map((key) => JSON.parse(new TextDecoder().decode(store.peek(key)!)) as CertificateRecord);
      const want = expectedServedId(records, name, s.now);
      const got = await drive(managerFor(actor).lookup(name));
      picks++;
      if (want !== undefined) check(got?.id === want, `${name}: a fresh process (${actor}) serves ${got?.id ?? "nothing"}, the rule picks ${want} of ${records.map((r) => r.id).join(", ")}`);
      else check(got === undefined || got.notAfter.getTime() <= s.now, `${name}: covered by no valid certificate, yet ${actor} serves ${got?.id} as valid`);
    }
  };
  await checkPicks("pick-check");

  // ---- after the schedule: sets managed (and not removed since) are served as they are
  for (const [set, at] of managedAt) {
    if ((removedUntil.get(set) ?? -1) < at && store.peek(`certificates/${ids[set]}.json`)) await servedBy("before-repair", set);
  }
  // ---- a fresh process manages every set: all served, keys match, no token of a finished authorization
  const recovery = managerFor("recovery");
  for (let set = 0; set < SETS.length; set++) {
    try {
      await drive(recovery.manage(SETS[set]!));
    } catch (err) {
      violations.push(`recovery manage(${SETS[set]!.join(",")}) failed: ${String(err)}`);
    }
  }
  await checkPicks("pick-after-recovery");
  for (let set = 0; set < SETS.length; set++) await servedBy("fresh", set);
  // A served certificate that is due renews in the background: let that finish before looking for
  // leftovers (an order in flight has its intent).
  for (let i = 0; i < 40_000 && ((await s.step()) || (await s.settle(), !s.idle)); i++);
  for (const id of ids) checkDue(id, recordOf(id), "after recovery");
  for (const key of store.keys("challenges/http-01/")) {
    check(!ca.tokenFinished(key.slice("challenges/http-01/".length)), `live token ${key} of a finished authorization`);
  }
  check(store.keys("orders/").length === 0, `order intents left after recovery: ${store.keys("orders/").join(", ")}`);
  return { steps: s.steps, checks, violations, trace: s.trace, kills, staleRefused: store.refusedStale, picks, family: SETS.length === 2 && SETS[0]!.length === 1 ? "disjoint" : "overlapping" };
}

/** Runs `count` schedules from seed `first` (a few side by side), prints the figures, returns the failures. */
export async function search(first: number, count: number, replay?: number): Promise<string[]> {
  let checks = 0;
  let steps = 0;
  let kills = 0;
  let stale = 0;
  let done = 0;
  let picks = 0;
  let overlapping = 0;
  const failures: string[] = [];
  // Schedules are independent: run a few side by side so their WebCrypto waits overlap.
  const seeds = Array.from({ length: replay !== undefined ? 1 : count }, (_, i) => replay ?? first + i);
  for (let i = 0; i < seeds.length && failures.length < 5; i += PARALLEL) {
    const batch = seeds.slice(i, i + PARALLEL);
    const outcomes = await Promise.all(batch.map((seed) => schedule(seed)));
    outcomes.forEach((outcome, j) => {
      checks += outcome.checks;
      steps += outcome.steps;
      kills += outcome.kills;
      stale += outcome.staleRefused;
      picks += outcome.picks;
      if (outcome.family === "overlapping") overlapping++;
      if (outcome.violations.length > 0) {
        failures.push(`seed ${batch[j]}: ${outcome.violations.slice(0, 5).join("; ")}`);
        if (replay !== undefined) console.log(outcome.trace.join("\n"));
      }
    });
    done += batch.length;
  }
  console.log(
    `interleaving search (seeds ${seeds[0]}…${seeds.at(-1)}): ${done} schedules (${overlapping} on overlapping name sets), ${steps} steps, ${checks} invariant checks (${picks} served-name picks), ${kills} kills, ${stale} writes refused for a lapsed lease` +
      (failures.length ? `; replay a failure with SEARCH_SEED=${failures[0]!.split(":")[0]!.slice(5)}` : ""),
  );
  return failures;
}
