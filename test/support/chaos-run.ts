/**
 * Issuances through the fault proxy under {@link chaosMix}, counted at the CA side: for the chaos test
 * (test/faults/chaos.test.ts) and `npm run bench`. One issuance at a time (parallel orders can
 * deadlock Pebble 2.4, PLATFORM.md), each with a new account so each is the 2N + 8 request case.
 * @module
 */
import { AcmeClient, generateKeyPair, obtainCertificate, parseCertificate, type Solver } from "../../src/index.ts";
import { chaosMix } from "./chaos-mix.ts";
import type { FaultProxy } from "./fault-proxy.ts";

/** What to run. */
export interface ChaosRunOptions {
  /** A TLS fault proxy in front of Pebble; the run adds its rule and leaves it there. */
  proxy: FaultProxy;
  /** The http-01 solver whose tokens Pebble's validator can fetch. */
  http01: Solver;
  seed: number;
  rounds: number;
  /** Names per issuance. */
  names: number;
  /** The client's per-request timeout: what ends a stall (never answered), and a loaded CA's slow answer. */
  requestTimeoutMs: number;
}

/** What happened, counted at the CA (requests the proxy forwarded and Pebble answered). */
export interface ChaosRunResult {
  seed: number;
  rounds: number;
  names: number;
  succeeded: number;
  /** `round n: error` for each failed issuance. */
  failures: string[];
  wallMs: number;
  /** Every request the client sent (the proxy's count). */
  requests: number;
  /** Requests beyond rounds × (2N + 8), the fault-free budget. */
  extraRequests: number;
  /** Faults injected, by name. */
  faults: Record<string, number>;
  /** Orders Pebble created (201), per name set. */
  ordersPerNameSet: number[];
  /** Certificates Pebble issued (finalize answered 200), distinct orders. */
  issued: number;
  /** Of those, how many never reached the caller. */
  lost: number;
}

/** The order id in an order or finalize URL (Pebble: /my-order/<id>, /finalize-order/<id>). */
const orderId = (url: string) => new URL(url, "https://x").pathname.split("/").pop()!;

/** Runs `rounds` issuances of `names` names each under the chaos mix for `seed`. */
export async function runChaos(options: ChaosRunOptions): Promise<ChaosRunResult> {
  const { proxy, seed, rounds, names: n } = options;
  const mix = chaosMix(seed);
  proxy.addRule(mix.rule);
  const from = proxy.requests.length;
  const failures: string[] = [];
  const delivered = new Set<string>();
  const started = Date.now();
  for (let round = 1; round <= rounds; round++) {
    mix.round(round);
    const names = Array.from({ length: n }, (_, i) => `r${round}-${i}.s${seed}.chaos.test`);
    const client = new AcmeClient({
      directoryUrl: proxy.directoryUrl,
      accountKey: await generateKeyPair(),
      fetch: proxy.fetch,
      retry: { baseDelayMs: 10, maxDelayMs: 200, requestTimeoutMs: options.requestTimeoutMs },
    });
    try {
      const cert = await obtainCertificate({ termsOfServiceAgreed: true, client, names, solvers: { "http-01": options.http01 } });
      const got = parseCertificate(cert.certificatePem).dnsNames.sort().join(",");
      if (got !== [...names].sort().join(",")) throw new Error(`the certificate names ${got}`);
      delivered.add(orderId(cert.orderUrl));
    } catch (err) {
      failures.push(`round ${round}: ${String(err)}`);
    }
  }
  const seen = proxy.requests.slice(from);
  const ordersByNames = new Map<string, number>();
  for (const r of seen) {
    if (r.method !== "POST" || r.path !== "/order-plz" || r.upstreamStatus !== 201) continue;
    const key = JSON.stringify((r.payload as { identifiers?: Array<{ value: string }> }).identifiers?.map((i) => i.value).sort());
    ordersByNames.set(key, (ordersByNames.get(key) ?? 0) + 1);
  }
  const issued = new Set(seen.filter((r) => r.method === "POST" && r.path.startsWith("/finalize-order/") && r.upstreamStatus === 200).map((r) => orderId(r.path)));
  return {
    seed,
    rounds,
    names: n,
    succeeded: rounds - failures.length,
    failures,
    wallMs: Date.now() - started,
    requests: seen.length,
    extraRequests: seen.length - rounds * (2 * n + 8),
    faults: Object.fromEntries(mix.injected),
    ordersPerNameSet: [...ordersByNames.values()],
    issued: issued.size,
    lost: [...issued].filter((id) => !delivered.has(id)).length,
  };
}

/** One line saying what a run did. */
export function chaosLine(r: ChaosRunResult): string {
  const faults = Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(", ");
  const orders = r.ordersPerNameSet.reduce((a, b) => a + b, 0);
  return (
    `chaos (seed ${r.seed}): ${r.succeeded}/${r.rounds} ${r.names}-name issuances succeeded in ${r.wallMs} ms; ${r.requests} requests ` +
    `(${r.extraRequests >= 0 ? "+" : ""}${r.extraRequests} over ${r.rounds} × (2N + 8)); faults injected: ${faults}; ` +
    `orders created at the CA: ${orders} for ${r.ordersPerNameSet.length} name sets (most for one: ${Math.max(0, ...r.ordersPerNameSet)}); ` +
    `certificates issued ${r.issued}, lost ${r.lost}`
  );
}
