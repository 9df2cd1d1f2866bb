import { describe, expect, it, vi } from "vitest";
import {
  AcmeClient,
  consoleLogger,
  generateKeyPair,
  obtainCertificate,
  parseCertificate,
  type AcmeChallenge,
  type ChallengeContext,
  type ObtainProgressEvent,
  type Solver,
} from "../../src/index.ts";
import { EdgecertError } from "../../src/errors.ts";
import { usePebbleBed } from "../support/pebble-bed.ts";

// The order flow's named steps seen from outside: progress events, and the caller's signal reaching
// every CA request.

const bed = usePebbleBed();
const http01 = bed.http01;

const newClient = async (fetchFn: typeof fetch = bed.pebble.fetch) =>
  new AcmeClient({ directoryUrl: bed.pebble.directoryUrl, accountKey: await generateKeyPair(), fetch: fetchFn });

describe("onProgress", () => {
  it("reports every step in order, one authorization_valid per name, with durations, and logs each as obtain.<step>", async () => {
    const client = await newClient();
    const events: ObtainProgressEvent[] = [];
    const lines: Array<{ event: string; fields: Record<string, unknown> | undefined }> = [];
    const names = ["p1.example.test", "p2.example.test", "p3.example.test"];
    const cert = await obtainCertificate({
      termsOfServiceAgreed: true,
      client,
      names,
      solvers: { "http-01": http01 },
      onProgress: (e) => events.push(e),
      logger: { log: (_level, event, fields) => lines.push({ event, fields }) },
    });
    expect(parseCertificate(cert.certificatePem).dnsNames.sort()).toEqual(names);
    const types = events.map((e) => e.type);
    // authorization_valid may come with the accept responses (Pebble answers some `valid` at once).
    expect(types.filter((t) => t !== "authorization_valid")).toEqual([
      "account", "order", "authorizations", "challenges_presented", "challenges_accepted", "finalized", "downloaded", "done",
    ]);
    const valid = events.filter((e) => e.type === "authorization_valid");
    expect(valid.map((e) => (e.type === "authorization_valid" ? e.identifier.value : "")).sort()).toEqual(names);
    expect(types.indexOf("authorization_valid")).toBeGreaterThan(types.indexOf("challenges_presented"));
    expect(types.lastIndexOf("authorization_valid")).toBeLessThan(types.indexOf("finalized"));
    for (const e of events) {
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
      expect(e.elapsedMs).toBeGreaterThanOrEqual(0);
    }
    const done = events.at(-1)!;
    expect(done.type === "done" && done.orderUrl).toBe(cert.orderUrl);
    expect(done.type === "done" && done.certificateUrl).toBe(cert.certificateUrl);
    const order = events.find((e) => e.type === "order");
    expect(order?.type === "order" && order.resumed).toBe(false);
    for (const name of ["obtain.authorization_valid", "obtain.finalized", "obtain.downloaded"]) {
      expect(lines.filter((l) => l.event === name).length).toBe(name === "obtain.authorization_valid" ? 3 : 1);
    }
    expect(typeof lines.find((l) => l.event === "obtain.finalized")?.fields?.durationMs).toBe("number");
  });

  it("a callback that throws does not change the outcome", async () => {
    const client = await newClient();
    const warnings: string[] = [];
    const cert = await obtainCertificate({
      termsOfServiceAgreed: true,
      client,
      names: ["throws.example.test"],
      solvers: { "http-01": http01 },
      onProgress: () => {
        throw new Error("renderer broke");
      },
      logger: { log: (level, event) => level === "warn" && warnings.push(event) },
    });
    expect(parseCertificate(cert.certificatePem).dnsNames).toEqual(["throws.example.test"]);
    expect(warnings).toContain("obtain.progress_callback_failed");
  });
});

/** Records present/cleanup so a test can check that cleanup ran for everything presented. */
class RecordingSolver implements Solver {
  presented: string[] = [];
  cleaned: string[] = [];
  async present(ch: AcmeChallenge, ctx: ChallengeContext) {
    this.presented.push(ctx.identifier.value);
    await http01.present(ch, ctx);
  }
  async cleanup(ch: AcmeChallenge, ctx: ChallengeContext) {
    this.cleaned.push(ctx.identifier.value);
    await http01.cleanup(ch, ctx);
  }
}

describe("the caller's signal reaches every step", () => {
  it("aborting at each CA request in turn: rejects as aborted, sends nothing more, cleans up", async () => {
    // One full run to learn how many requests an issuance makes, then one run aborted at each of them.
    let total = 0;
    {
      const counting: typeof fetch = (input, init) => {
        total++;
        return bed.pebble.fetch(input, init);
      };
      await obtainCertificate({ termsOfServiceAgreed: true, client: await newClient(counting), names: ["abort-probe.example.test"], solvers: { "http-01": http01 } });
    }
    expect(total).toBeGreaterThanOrEqual(8);
    const searched: number[] = [];
    for (let k = 1; k <= total; k++) {
      const controller = new AbortController();
      let sent = 0;
      let sentAfterAbort = 0;
      const aborting: typeof fetch = (input, init) => {
        if (controller.signal.aborted) {
          // A request made after the abort: it must not exist (fetch with an aborted signal is not counted).
          if (!init?.signal?.aborted) sentAfterAbort++;
          return bed.pebble.fetch(input, init);
        }
        if (++sent === k) {
          // Abort while the k-th request is in flight.
          const response = bed.pebble.fetch(input, init);
          queueMicrotask(() => controller.abort());
          return response;
        }
        return bed.pebble.fetch(input, init);
      };
      const solver = new RecordingSolver();
      const started = Date.now();
      const err = await obtainCertificate({
        termsOfServiceAgreed: true,
        client: await newClient(aborting),
        names: [`abort-${k}.example.test`],
        solvers: { "http-01": solver },
        signal: controller.signal,
      }).catch((e: unknown) => e);
      if (sent < k) {
        // This issuance needed fewer requests than the probe (one status poll fewer on a loaded
        // machine): there was no k-th request to abort, and it must simply have succeeded.
        expect(err, `issuance with ${sent} requests`).not.toBeInstanceOf(Error);
        continue;
      }
      expect(err, `abort at request ${k}`).toBeInstanceOf(EdgecertError);
      expect((err as EdgecertError).code, `abort at request ${k}: ${String(err)}`).toBe("aborted");
      expect(sentAfterAbort, `requests after the abort at request ${k}`).toBe(0);
      expect(solver.cleaned.sort()).toEqual(solver.presented.sort());
      // Promptly: under the 30 s per-request timeout it would otherwise wait out (room for a loaded machine).
      expect(Date.now() - started).toBeLessThan(25_000);
      searched.push(k);
    }
    console.log(`aborted at each of ${searched.length} requests of a 1-name issuance (the probe made ${total})`);
    expect(searched.length).toBeGreaterThanOrEqual(8);
    expect(http01.size).toBe(0);
  });
});

describe("consoleLogger", () => {
  it("stamps every line with an ISO time; a 5-name issuance logs each authorization, finalize and download with durations", async () => {
    const printed: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)));
    const before = Date.now();
    const names = ["log1.example.test", "log2.example.test", "log3.example.test", "log4.example.test", "log5.example.test"];
    try {
      await obtainCertificate({ termsOfServiceAgreed: true, client: await newClient(), names, solvers: { "http-01": http01 }, logger: consoleLogger() });
    } finally {
      spy.mockRestore();
    }
    const after = Date.now();
    const lines = printed.map((l) => JSON.parse(l) as { time: string; level: string; event: string; durationMs?: number; identifier?: { value: string } });
    for (const line of lines) {
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const t = Date.parse(line.time);
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(after);
    }
    expect(lines.map((l) => Date.parse(l.time))).toEqual([...lines.map((l) => Date.parse(l.time))].sort((a, b) => a - b));
    const between = lines.slice(lines.findIndex((l) => l.event === "obtain.accepted") + 1, lines.findIndex((l) => l.event === "obtain.done"));
    const valid = lines.filter((l) => l.event === "obtain.authorization_valid");
    expect(valid.map((l) => l.identifier?.value).sort()).toEqual(names);
    for (const event of ["obtain.finalized", "obtain.downloaded"]) expect(between.map((l) => l.event)).toContain(event);
    for (const l of [...valid, ...lines.filter((x) => x.event === "obtain.finalized" || x.event === "obtain.downloaded")]) {
      expect(typeof l.durationMs).toBe("number");
    }
  });

  it("a field named time, level or event cannot overwrite the stamp", () => {
    const printed: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)));
    try {
      consoleLogger("info", { now: () => new Date("2026-12-02T13:00:00.000Z") }).log("info", "x.y", { time: "spoofed", level: "error", event: "z", n: 1 });
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(printed[0]!)).toEqual({ time: "2026-12-02T13:00:00.000Z", level: "info", event: "x.y", n: 1 });
    expect(printed[0]!.startsWith('{"time":"2026-12-02T13:00:00.000Z","level":"info","event":"x.y"')).toBe(true);
  });
});
