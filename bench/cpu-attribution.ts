import { Session } from "node:inspector/promises";
import { AcmeClient, generateKeyPair, obtainCertificate, type Solver } from "../src/index.ts";

/** Where one issuance's CPU went, in ms per issuance. */
export interface CpuAttribution {
  issuances: number;
  /** Our code, the asn1 packages and the WebCrypto work they ask for: what a Worker's CPU budget pays. */
  library: number;
  /** Node's HTTP/TLS stack (undici, sockets, streams): outside the isolate on Workers. */
  network: number;
  /** Test servers and the benchmark itself (the http-01 responder the CA calls, counters). */
  harness: number;
  garbageCollector: number;
  other: number;
}

const LIBRARY = [/\/src\//, /@peculiar\//, /\/asn1js\//, /\/pvtsutils\//, /\/pvutils\//, /\/tslib\//, /node:internal\/crypto/, /node:internal\/webidl/];
const NETWORK = [/undici/, /node:internal\/(deps\/undici|net|tls|http|stream|streams|webstreams|url|dns|timers|event_target|abort)/, /node:(net|tls|http|https|_http|_tls|stream|events|buffer|url)/];
const HARNESS = [/\/test\//, /\/bench\//, /\/tsx\//];

/**
 * Profiles `issuances` issuances (after an unprofiled warm-up) with V8's sampling profiler (100 µs) and
 * attributes each sample's self time by the code it was in. Keys are generated outside the profile.
 */
export async function attributeCpu(target: { directoryUrl: string; fetch: typeof fetch }, solver: Solver, challenge: string, issuances: number, names: (i: number) => string[]): Promise<CpuAttribution> {
  // Steady state, not first-call JIT and connection setup: a few unprofiled issuances first.
  for (let i = 0; i < 3; i++) {
    const client = new AcmeClient({ directoryUrl: target.directoryUrl, accountKey: await generateKeyPair(), fetch: target.fetch });
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: names(-1 - i), solvers: { [challenge]: solver } });
  }
  const keys = await Promise.all(Array.from({ length: issuances }, async () => ({ account: await generateKeyPair(), cert: await generateKeyPair() })));
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
  for (let i = 0; i < issuances; i++) {
    const client = new AcmeClient({ directoryUrl: target.directoryUrl, accountKey: keys[i]!.account, fetch: target.fetch });
    await obtainCertificate({ termsOfServiceAgreed: true, client, names: names(i), solvers: { [challenge]: solver }, certificateKey: keys[i]!.cert });
  }
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  const self = new Map<number, number>();
  profile.timeDeltas?.forEach((dt, i) => {
    const id = profile.samples![i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const totals = { library: 0, network: 0, harness: 0, garbageCollector: 0, other: 0 };
  // Native frames (no script URL: socket writes, TLS, signing) count for the JavaScript that called them.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const categoryOf = (id: number): keyof typeof totals => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)!.callFrame.url;
      if (!url) continue;
      if (HARNESS.some((r) => r.test(url))) return "harness";
      if (LIBRARY.some((r) => r.test(url))) return "library";
      if (NETWORK.some((r) => r.test(url))) return "network";
      return "other";
    }
    return "other";
  };
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (!us) continue;
    const { functionName } = node.callFrame;
    if (functionName === "(idle)" || functionName === "(root)") continue;
    if (functionName === "(garbage collector)") totals.garbageCollector += us;
    else totals[categoryOf(node.id)] += us;
  }
  const per = (us: number) => Math.round((us / 1000 / issuances) * 100) / 100;
  return {
    issuances,
    library: per(totals.library),
    network: per(totals.network),
    harness: per(totals.harness),
    garbageCollector: per(totals.garbageCollector),
    other: per(totals.other),
  };
}
