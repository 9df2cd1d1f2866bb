import { DurableObject } from "cloudflare:workers";
import { renewAtFromLifetime, spreadRenewAt } from "../../../src/manager/renewal-schedule.ts";
import type { RenewerResult } from "../../../workers/certificate-renewer.ts";
import { certificateEvent, publishEvent } from "../../../workers/hub/webhook-events.ts";
import { renewalIndex, type IndexEntry } from "../../../workers/renewal-index.ts";
import { stepLatencyMs, type CaLatencyModel } from "../ca-latency-model.ts";
import type { SimEnv } from "./sim-env.ts";
import { sleep, touch, virtualNow } from "./sim-clock.ts";
import { recordGone, recordRenewal } from "./sim-stats.ts";

/** Issuer the stand-in writes: `sim #n` after its n-th renewal of a certificate. */
const ISSUER = /^sim #(\d+)$/;

let model: CaLatencyModel | undefined;

/**
 * The simulated window's CertificateRenewer: the same RPC (`run(entry, at)`) and the same index read
 * and write as workers/certificate-renewer.ts, with the ACME exchange modelled — a real renewal's
 * request sequence (test/support/ca-latency-model.ts) sent to the CA stand-in (SIM_CA, a Worker of its
 * own), and the requests' latency waited on the virtual clock. The next due time is the real
 * schedule's (two thirds of SIM_LIFETIME_HOURS, spread by the certificate's id), and a
 * `certificate.renewed` event goes to the real outbox, as after a real renewal.
 */
export class ModelledRenewer extends DurableObject<SimEnv> {
  async run(claimed: IndexEntry, at: number): Promise<RenewerResult> {
    model ??= JSON.parse(this.env.SIM_MODEL) as CaLatencyModel;
    touch();
    try {
      return await this.#renew(claimed, at, model);
    } finally {
      touch();
    }
  }

  async #renew(claimed: IndexEntry, at: number, model: CaLatencyModel): Promise<RenewerResult> {
    const index = renewalIndex(this.env);
    let subrequests = 1;
    const entry = await index.get(claimed.id);
    if (!entry) {
      recordGone();
      return { id: claimed.id, outcome: "gone", dueAt: at };
    }
    // The CA answers at once; the requests' latency (round trips, the CA's time, validation: they are
    // sequential) passes on the virtual clock as one wait, which is what the renewal as a whole takes.
    let latency = 0;
    for (let i = 0; i < model.steps.length; i++) {
      const step = model.steps[i]!;
      const url = `https://ca.sim.test/${step.kind}?bytes=${step.responseBytes}`;
      const response = await this.env.SIM_CA.fetch(url, step.method === "POST" ? { method: "POST", body: "x".repeat(step.requestBytes) } : { method: step.method });
      await response.arrayBuffer();
      subrequests++;
      latency += stepLatencyMs(model, i);
    }
    await sleep(latency);
    const renewedAt = virtualNow();
    const notAfter = renewedAt + Number(this.env.SIM_LIFETIME_HOURS) * 3_600_000;
    const dueAt = spreadRenewAt(renewAtFromLifetime(renewedAt, notAfter), renewedAt, notAfter, entry.id);
    const previous = Number(ISSUER.exec(entry.issuer ?? "")?.[1] ?? 0);
    const { lastError: _l, nextAttemptAt: _n, queuedFor: _q, ...rest } = entry;
    await index.upsert({ ...rest, dueAt, status: "valid", notAfter, issuer: `sim #${previous + 1}`, failures: 0, updatedAt: renewedAt });
    this.ctx.waitUntil(publishEvent(this.env, certificateEvent("certificate.renewed", renewedAt, { id: entry.id, names: entry.names, serialNumber: `sim-${previous + 1}`, notAfter: new Date(notAfter).toISOString() })));
    subrequests += 2;
    // claimed.dueAt is the due time before the tick claimed it.
    recordRenewal(renewedAt - claimed.dueAt, previous > 0, subrequests, 1);
    return { id: entry.id, outcome: "renewed", dueAt };
  }
}
