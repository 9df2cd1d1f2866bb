import { AcmeClient, DnsPersist01Solver, dns01Solver, dnsPersistRecordsFor, generateKeyPair, obtainCertificate, type Solver } from "../src/index.ts";
import { startDohServer } from "../test/support/doh-server.ts";
import type { PebbleInstance } from "../test/support/pebble.ts";
import { startPersistProxy } from "../test/support/persist-proxy.ts";
import { countingFetch } from "../test/support/request-counter.ts";
import { median } from "./measure.ts";

/** Medians for one way of validating a wildcard + apex certificate. */
export interface PersistBenchRow {
  challenge: "dns-persist-01" | "dns-01";
  /** Base names; each is ordered as `*.name` + `name` (2 identifiers per base name). */
  baseNames: number;
  runs: number;
  succeeded: number;
  /** Requests to the CA, including account creation. */
  caRequests: number;
  /** DoH queries the client made (dns-persist-01 checks before answering). */
  dohQueries: number;
  /** DNS writes the client made. */
  dnsWrites: number;
  wallMs: number;
}

/**
 * Wildcard + apex issuance with dns-persist-01 through the stand-in (test/support/persist-proxy.ts;
 * records created once, before the clock starts, account creation counted) beside dns-01 against
 * Pebble itself (the client writes challtestsrv records during the issuance). New account per run.
 */
export async function dnsPersistBench(pebble: PebbleInstance, runs: number, sizes: number[]): Promise<PersistBenchRow[]> {
  const ca = await startPersistProxy(pebble);
  const doh = await startDohServer(pebble.dnsPort);
  const rows: PersistBenchRow[] = [];
  let tag = 0;
  try {
    for (const n of sizes) {
      for (const challenge of ["dns-persist-01", "dns-01"] as const) {
        const samples: Array<{ ok: boolean; ca: number; doh: number; writes: number; wallMs: number }> = [];
        for (let r = 0; r < runs; r++) {
          tag++;
          const bases = Array.from({ length: n }, (_, i) => `p${tag}-${i}.bench.test`);
          const names = bases.flatMap((b) => [`*.${b}`, b]);
          // The stand-in offers dns-persist-01 in place of dns-01: dns-01 runs against Pebble itself.
          const target = challenge === "dns-persist-01" ? ca : pebble;
          const counter = countingFetch(target.fetch);
          const client = new AcmeClient({ directoryUrl: target.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: counter.fetch });
          let writes = 0;
          let solver: Solver;
          const dohBefore = doh.requests.length;
          if (challenge === "dns-persist-01") {
            await client.newAccount({ termsOfServiceAgreed: true });
            for (const rec of dnsPersistRecordsFor({ names, accountUri: client.accountUrl!, issuerDomainName: "persist.stand-in.test" })) await pebble.setTxt(rec.name, rec.value);
            solver = new DnsPersist01Solver({ resolver: doh.url });
          } else {
            solver = dns01Solver({ setTxt: (name, v) => (writes++, pebble.setTxt(name, v)), removeTxt: (name) => (writes++, pebble.clearTxt(name)) });
          }
          const started = performance.now();
          let ok = true;
          try {
            await obtainCertificate({ termsOfServiceAgreed: true, client, names, solvers: { [challenge]: solver } });
          } catch {
            ok = false;
          }
          samples.push({ ok, ca: counter.count(), doh: doh.requests.length - dohBefore, writes, wallMs: performance.now() - started });
        }
        const good = samples.filter((s) => s.ok);
        rows.push({
          challenge,
          baseNames: n,
          runs,
          succeeded: good.length,
          caRequests: median(good.map((s) => s.ca)),
          dohQueries: median(good.map((s) => s.doh)),
          dnsWrites: median(good.map((s) => s.writes)),
          wallMs: Math.round(median(good.map((s) => s.wallMs))),
        });
      }
    }
  } finally {
    await doh.close();
    await ca.close();
  }
  return rows;
}
