// npm run demo — the edgecert Worker end to end on local defaults:
// a local Pebble CA, the Worker inside workerd (Miniflare) with persisted local storage, two names added
// through the admin API, Pebble validating http-01 against the Worker, and the certificate shown.
import { fileURLToPath } from "node:url";
import { parseCertificate } from "../src/index.ts";
import { startPebble } from "../test/support/pebble.ts";
import { ADMIN_TOKEN, startWorker } from "../test/support/worker.ts";
import { PEBBLE, ensureSystemPackagesOrExit } from "./system-packages.ts";

process.env.WRANGLER_SEND_METRICS ??= "false";
const NAMES = ["demo.example.test", "www.demo.example.test"];
// EDGECERT_DEMO_STATE moves the Worker state elsewhere (the test runs the demo in a temp dir).
const persistTo = process.env.EDGECERT_DEMO_STATE ?? fileURLToPath(new URL("../.wrangler/demo-state", import.meta.url));

ensureSystemPackagesOrExit([PEBBLE]);
console.log("Starting Pebble (local ACME CA)…");
const pebble = await startPebble().catch((err: unknown) =>
  giveUp(`the local Pebble CA could not start: ${messageOf(err)}\nAbove is what Pebble printed; if it is broken, reinstall it: sudo apt-get install --reinstall pebble`));
console.log(`Starting the edgecert Worker in workerd on 127.0.0.1:${pebble.httpPort} (state in ${process.env.EDGECERT_DEMO_STATE ?? ".wrangler/demo-state"})…`);
// The Worker creates its ACME account only with explicit agreement to the CA's terms (wrangler.toml
// sets ACME_TERMS_OF_SERVICE_AGREED for a real deployment); Pebble's terms are a placeholder.
const worker = await startWorker(pebble, { persistTo, vars: { ACME_TERMS_OF_SERVICE_AGREED: "true" } }).catch(async (err: unknown) => {
  await pebble.stop().catch(() => {});
  return giveUp(`the Worker could not start in workerd: ${messageOf(err)}\nRun \`npm install\` first; the Worker is built from workers/ with wrangler.toml.`);
});

/** A startup failure: one message saying what to check, no stack trace. */
function giveUp(message: string): never {
  console.error(`demo failed: ${message}`);
  process.exit(1);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await worker.stop().catch(() => {});
  await pebble.stop().catch(() => {});
  process.exit(code);
};
process.once("SIGINT", () => void stop(130));
process.once("SIGTERM", () => void stop(143));

try {
  console.log(`Worker: ${worker.url.href}   admin token: ${ADMIN_TOKEN}`);
  console.log(`POST /admin/certificates {"names": ${JSON.stringify(NAMES)}}`);
  const added = await worker.admin("/admin/certificates", { method: "POST", body: JSON.stringify({ names: NAMES }) });
  const entry = (await added.json()) as { id: string; status: string };
  if (added.status === 200) {
    // Already managed from an earlier run (persisted state): renew it, against this run's Pebble.
    console.log(`Already managed (${entry.id}); forcing a renewal…`);
    const renewed = await worker.admin(`/admin/certificates/${entry.id}/renew`, { method: "POST" });
    if (!renewed.ok) throw new Error(`renewal failed: ${await renewed.text()}`);
  } else if (added.status !== 202) {
    throw new Error(`admin API answered ${added.status}: ${JSON.stringify(entry)}`);
  }

  let details: { status: string; lastError: string | null; certificate: { chainPem: string } | null } | undefined;
  for (let i = 0; i < 150; i++) {
    details = (await (await worker.admin(`/admin/certificates/${entry.id}`)).json()) as typeof details;
    if (details!.certificate && details!.status === "valid") break;
    if (details!.status === "failed") throw new Error(`issuance failed: ${details!.lastError}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!details?.certificate) throw new Error("no certificate after 30 s");

  const info = parseCertificate(details.certificate.chainPem);
  console.log("\nIssued by Pebble after validating http-01 against the Worker:");
  console.log(`  names:   ${[...info.dnsNames, ...info.ipAddresses].join(", ")}`);
  console.log(`  issuer:  ${info.issuer}`);
  console.log(`  valid:   ${info.notBefore.toISOString()} → ${info.notAfter.toISOString()}`);
  console.log(`  serial:  ${info.serialNumber}`);
  const status = (await (await worker.admin("/admin/status")).json()) as { certificates: number };
  console.log(`  managed: ${status.certificates} certificate(s) in the renewal index`);
  // Without a terminal nobody can try the Worker after this script exits, so only offer it when it
  // stays up (until Ctrl-C).
  if (process.stdin.isTTY && process.stdout.isTTY && !process.env.CI) {
    console.log(`\nThe Worker keeps running until you press Ctrl-C. Try it meanwhile:`);
    console.log(`  curl -H 'authorization: Bearer ${ADMIN_TOKEN}' ${worker.url.href}admin/certificates`);
    await new Promise(() => {});
  }
  console.log("\nDone; the Worker and Pebble are stopped (run it in a terminal to keep the Worker up until Ctrl-C).");
  await stop(0);
} catch (err) {
  console.error(`demo failed: ${messageOf(err)}`);
  await stop(1);
}
