import type { Env } from "../../../workers/env.ts";

/** The simulated window's Worker: the real bindings, the CA stand-in and the model. */
export interface SimEnv extends Env {
  /** The CA stand-in (./sim-ca.ts), a Worker of its own. */
  SIM_CA: Fetcher;
  /** The renewal's CA exchange (../ca-latency-model.ts CaLatencyModel), JSON. */
  SIM_MODEL: string;
  /** Lifetime of the certificates the stand-in issues (hours). */
  SIM_LIFETIME_HOURS: string;
}
