/**
 * The ACME exchange of one renewal as the simulated day replays it against the CA stand-in: the
 * requests a real renewal sent (measured against Pebble in workerd by bench/renewer-cost.ts, or the
 * default below, taken from such a run), each held for a network round trip plus the time Pebble took
 * to answer it, plus the CA's validation time after the challenge is answered.
 */
export interface CaStep {
  /** What the request is (`newNonce`, `newOrder`, `authz`, `challenge`, `order`, `finalize`, `certificate`, ...). */
  kind: string;
  method: "GET" | "HEAD" | "POST";
  /** Milliseconds the CA took to answer (Pebble, on loopback). */
  serviceMs: number;
  requestBytes: number;
  responseBytes: number;
}

/** One renewal's exchange and the latency it is replayed with. */
export interface CaLatencyModel {
  steps: CaStep[];
  /** Network round trip added to every request (ms). */
  rttMs: number;
  /** Held before the first request after the challenge is answered: the CA validating (ms). */
  validationMs: number;
  /** Where the steps come from. */
  source: string;
}

/** Milliseconds one renewal spends waiting for the CA under `model` (its requests are sequential). */
export function renewalLatencyMs(model: CaLatencyModel): number {
  return model.steps.reduce((sum, s) => sum + model.rttMs + s.serviceMs, 0) + model.validationMs;
}

/** Milliseconds request `i` of `model` is held: its round trip and service time, and the validation wait when it follows the challenge. */
export function stepLatencyMs(model: CaLatencyModel, i: number): number {
  const step = model.steps[i]!;
  const afterChallenge = i > 0 && model.steps[i - 1]!.kind === "challenge";
  return model.rttMs + step.serviceMs + (afterChallenge ? model.validationMs : 0);
}

/**
 * A renewal's CA requests as bench/renewer-cost.ts measured them (2026-12-06: the Worker's real
 * CertificateRenewer against Pebble 2.4 in workerd, one name, http-01, a forced renewal — the same
 * exchange as a due one without ARI; Pebble's own time on loopback per request). The directory and a
 * nonce are fetched again by every renewal (each runs in an invocation of its own).
 */
export const MEASURED_RENEWAL_STEPS: readonly CaStep[] = [
  { kind: "directory", method: "GET", serviceMs: 3, requestBytes: 0, responseBytes: 406 },
  { kind: "newNonce", method: "GET", serviceMs: 0.6, requestBytes: 0, responseBytes: 0 },
  { kind: "newOrder", method: "POST", serviceMs: 1.5, requestBytes: 413, responseBytes: 382 },
  { kind: "authz", method: "POST", serviceMs: 0.8, requestBytes: 384, responseBytes: 870 },
  { kind: "challenge", method: "POST", serviceMs: 2.6, requestBytes: 387, responseBytes: 194 },
  { kind: "order", method: "POST", serviceMs: 1.3, requestBytes: 388, responseBytes: 380 },
  { kind: "finalize", method: "POST", serviceMs: 2, requestBytes: 892, responseBytes: 385 },
  { kind: "order", method: "POST", serviceMs: 1.5, requestBytes: 388, responseBytes: 448 },
  { kind: "certificate", method: "POST", serviceMs: 0.9, requestBytes: 348, responseBytes: 2177 },
];

/**
 * The model the simulated windows use unless told otherwise: the measured requests, each 250 ms of
 * round trip to a distant CA on top of Pebble's time, and 2 s for the CA to validate the challenge
 * (Let's Encrypt publishes no figure: an assumption; a longer validation adds order polls, one request
 * each). 4.26 s a renewal.
 */
export function defaultRenewalModel(steps: readonly CaStep[] = MEASURED_RENEWAL_STEPS, rttMs = 250, validationMs = 2_000): CaLatencyModel {
  return { steps: [...steps], rttMs, validationMs, source: steps === MEASURED_RENEWAL_STEPS ? "a renewal measured against Pebble 2.4 in workerd on 2026-12-06 (test/support/ca-latency-model.ts)" : "a renewal measured against Pebble in workerd by this run (bench/renewer-cost.ts)" };
}
