import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PebbleInstance } from "../support/pebble.ts";
import { seededRandom } from "../support/seeded-random.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

// Seeded fuzzing of POST /admin/certificates/bulk (issue 26, review): bodies mixing valid and invalid
// certificates, wrong types, duplicates (the same names in another case or order), names already
// present, huge strings. Every answer is a typed 4xx or a 2xx, never a 5xx; a refused request adds
// nothing; an accepted one adds exactly the distinct new certificates it reports, one entry per item
// listed in order. A CA that never answers (the attempts wait; nothing else moves). Replay: EDGECERT_BULK_FUZZ_SEED=<seed>;
// EDGECERT_BULK_FUZZ_REQUESTS=<n> to search longer. Cost: about 10 s.
const SEED = Number(process.env.EDGECERT_BULK_FUZZ_SEED ?? 20261206);
const REQUESTS = Number(process.env.EDGECERT_BULK_FUZZ_REQUESTS ?? 120);
const noCa = { directoryUrl: "https://ca.bulk-fuzz.test/directory" } as unknown as PebbleInstance;

let worker: WorkerInstance;
beforeAll(async () => {
  worker = await startWorker(noCa, { port: 0, vars: { ALLOWED_NAMES: [0, 1, 2, 3, 4].map((d) => `*.d${d}.fuzz.test`).join(",") }, outbound: () => new Promise<Response>(() => undefined) });
});
afterAll(async () => {
  await worker?.stop();
});

type Random = () => number;
const pick = <T,>(r: Random, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

/** A name: usually valid and allowed, sometimes not (each kind of refusal the API names). */
function name(r: Random, pool: string[], clean: boolean): unknown {
  const roll = clean ? r() * 0.8 : r();
  if (roll < 0.25 && pool.length > 0) {
    // One seen before, in another case or with a trailing dot: the same certificate.
    const seen = pick(r, pool);
    return r() < 0.5 ? seen.toUpperCase() : `${seen}.`;
  }
  if (roll < 0.8) {
    const n = `n${Math.floor(r() * 40)}.d${Math.floor(r() * 5)}.fuzz.test`;
    pool.push(n);
    return n;
  }
  return pick(r, [
    "not a name",
    "x".repeat(64) + ".fuzz.test",
    "a.".repeat(130) + "fuzz.test",
    r() < 0.2 ? "x".repeat(600_000) : "y".repeat(5_000),
    "other.example",
    "*.fuzz.test",
    "bücher.fuzz.test",
    "192.0.2.7",
    "1.2.3.4.5",
    "",
    42,
    null,
    ["a.fuzz.test"],
    { name: "a.fuzz.test" },
  ]);
}

function certificate(r: Random, pool: string[], clean: boolean): unknown {
  if (clean) return { names: Array.from({ length: 1 + Math.floor(r() * 3) }, () => name(r, pool, true)) };
  if (r() < 0.05) return pick(r, [null, "a.fuzz.test", 7, [], true]);
  const count = r() < 0.9 ? 1 + Math.floor(r() * 3) : pick(r, [0, 101, 150]);
  const names = r() < 0.05 ? pick(r, ["a.fuzz.test", 3, null, {}]) : Array.from({ length: count }, () => name(r, pool, false));
  const item: Record<string, unknown> = { names };
  if (r() < 0.1) item.profile = pick(r, ["shortlived", "no profile", 5, "", "x".repeat(65)]);
  if (r() < 0.1) item.challenge = pick(r, ["http-01", "dns-01", "dns-persist-01", "tls-alpn-01", null]);
  if (r() < 0.03) item[pick(r, ["colour", "__proto__", "constructor", "id"])] = 1;
  return item;
}

function body(r: Random, pool: string[]): string {
  const roll = r();
  if (roll < 0.03) return pick(r, ["not json", "", "[]", "null", '{"certificates":', "\u0000"]);
  if (roll < 0.06) return JSON.stringify({ certificates: pick(r, [[], {}, "x", null, 5]) });
  if (roll < 0.08) return JSON.stringify({ certificates: [{ names: ["a.fuzz.test"] }], more: true });
  // Half the requests are all valid (duplicates and names already present aside); the others mix in
  // invalid certificates, each refusing the whole request.
  const clean = r() < 0.5;
  const length = r() < 0.95 ? 1 + Math.floor(r() * 12) : pick(r, [1000, 1001]);
  const list = Array.from({ length }, () => certificate(r, pool, clean || r() < 0.7));
  // Duplicates inside one request, as given or with the names in another order.
  if (r() < 0.3 && list.length > 0) {
    const again = list[Math.floor(r() * list.length)] as { names?: unknown };
    list.push(Array.isArray(again?.names) ? { ...again, names: [...(again.names as unknown[])].reverse() } : again);
  }
  return JSON.stringify({ certificates: list });
}

describe("POST /admin/certificates/bulk under seeded bodies", () => {
  it(`answers ${REQUESTS} bodies with a typed 4xx or a 2xx, adding exactly what it reports (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const r = seededRandom(SEED);
    const pool: string[] = [];
    const index = await worker.index();
    const statuses: Record<number, number> = {};
    let added = 0;
    for (let i = 0; i < REQUESTS; i++) {
      const text = body(r, pool);
      const before = await index.count();
      // Past the 512 KiB limit workerd may answer 413 and close while the body is still being sent.
      const res = await worker.admin("/admin/certificates/bulk", { method: "POST", body: text }).catch((err: unknown) => {
        if (new TextEncoder().encode(text).length > 512 * 1024) return new Response(JSON.stringify({ error: { code: "body_too_large", message: "" } }), { status: 413 });
        throw err;
      });
      const answer = (await res.json().catch(() => undefined)) as
        | { error?: { code: string; message: string }; created?: number; certificates?: Array<{ id: string; names: string[]; created: boolean }> }
        | undefined;
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      const where = `seed ${SEED}, request ${i}: ${res.status} ${JSON.stringify(answer?.error ?? answer?.created)} for ${text.slice(0, 300)}`;
      expect(res.status, where).toBeLessThan(500);
      const after = await index.count();
      if (res.status >= 400) {
        expect(answer?.error?.code, where).toMatch(/^[a-z_]+$/);
        expect(after, where).toBe(before);
        continue;
      }
      const list = (JSON.parse(text) as { certificates: unknown[] }).certificates;
      expect(answer?.certificates?.length, where).toBe(list.length);
      const fresh = new Set(answer!.certificates!.filter((c) => c.created).map((c) => c.id));
      // Each certificate added once, however often the request names it.
      expect(answer!.certificates!.filter((c) => c.created).length, where).toBe(fresh.size);
      expect(answer!.created, where).toBe(fresh.size);
      expect(after - before, where).toBe(fresh.size);
      expect(res.status, where).toBe(fresh.size > 0 ? 202 : 200);
      added += fresh.size;
    }
    console.log(`bulk fuzz seed ${SEED}: ${REQUESTS} requests, statuses ${JSON.stringify(statuses)}, ${added} certificates added`);
  });

  it("a bad ALLOWED_NAMES is a 503 configuration_error naming it, not a 500", { timeout: 60_000 }, async () => {
    // A one-label entry (localhost) or a wildcard below the first label: old code answered 500 internal.
    for (const allowed of ["localhost,*.fuzz.test", "*.*.fuzz.test"]) {
      const w = await startWorker(noCa, { port: 0, vars: { ALLOWED_NAMES: allowed }, outbound: () => new Promise<Response>(() => undefined) });
      try {
        for (const [path, body] of [
          ["/admin/certificates/bulk", { certificates: [{ names: ["a.fuzz.test"] }] }],
          ["/admin/certificates", { names: ["a.fuzz.test"] }],
        ] as const) {
          const res = await w.admin(path, { method: "POST", body: JSON.stringify(body) });
          const answer = (await res.json()) as { error: { code: string; message: string } };
          expect({ status: res.status, code: answer.error.code }, `${allowed}: ${path}`).toEqual({ status: 503, code: "configuration_error" });
          expect(answer.error.message).toMatch(/^ALLOWED_NAMES: /);
        }
        expect(await (await w.index()).count()).toBe(0);
      } finally {
        await w.stop();
      }
    }
  });
});
