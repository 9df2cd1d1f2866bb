// npm run demo — issue a real certificate from a local Pebble, end to end, and show it.
import { AcmeClient, Http01Solver, consoleLogger, generateKeyPair, obtainCertificate, parseCertificate } from "../src/index.ts";
import { serveHttp01 } from "../test/support/challenge-servers.ts";
import { startPebble } from "../test/support/pebble.ts";
import { ensurePebble } from "./ensure-pebble.ts";

ensurePebble();
const pebble = await startPebble();
const solver = new Http01Solver();
const http = await serveHttp01(pebble.httpPort, solver);
const stop = async () => {
  await http.close();
  await pebble.stop();
};
process.once("SIGINT", () => void stop().then(() => process.exit(130)));

try {
  console.log(`Pebble directory: ${pebble.directoryUrl}`);
  const client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair("ES256"), fetch: pebble.fetch });
  const names = ["demo.example.test", "www.demo.example.test"];
  const started = performance.now();
  const cert = await obtainCertificate({ client, names, solvers: { "http-01": solver }, logger: consoleLogger("info") });
  const info = parseCertificate(cert.certificatePem);
  console.log(`\nIssued in ${Math.round(performance.now() - started)} ms:`);
  console.log(`  names:    ${[...info.dnsNames, ...info.ipAddresses].join(", ")}`);
  console.log(`  issuer:   ${info.issuer}`);
  console.log(`  valid:    ${info.notBefore.toISOString()} → ${info.notAfter.toISOString()}`);
  console.log(`  serial:   ${info.serialNumber}`);
  console.log(`  chains:   ${cert.alternates.map((c) => c.issuerCommonName).join(" | ")}`);
  console.log(`\n${cert.certificatePem}`);
} finally {
  await stop();
}
