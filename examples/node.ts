/**
 * Automatic HTTPS on Node ≥ 20 — the counterpart of Go's `autocert.NewListener`.
 *
 *   DOMAINS=example.com,www.example.com EMAIL=ops@example.com npx tsx examples/node.ts
 *
 * Needs ports 443 and 80 (http-01 and the redirect to HTTPS) reachable from the internet under those
 * names. Uses Let's Encrypt production (edgecert's default CA) unless ACME_DIRECTORY_URL says otherwise (staging while trying it out:
 * https://acme-staging-v02.api.letsencrypt.org/directory); certificates, keys and
 * the account live in EDGECERT_DIR (default `.edgecert`), so a restart reuses them.
 *
 * From the published package:
 *   import { CertificateManager } from "edgecert";
 *   import { FileStorage } from "edgecert/storage/file";
 *   import { listen } from "edgecert/tls/node";
 */
import process from "node:process";
import { CertificateManager, DEFAULT_DIRECTORY_URL, TlsAlpn01Solver, consoleLogger } from "../src/index.ts";
import { StorageHttp01Solver } from "../src/manager/index.ts";
import { FileStorage } from "../src/storage/file.ts";
import { listen } from "../src/tls/node.ts";

const names = (process.env.DOMAINS ?? "").split(",").map((n) => n.trim()).filter(Boolean);
if (names.length === 0) throw new Error("set DOMAINS=example.com[,www.example.com]");

const storage = new FileStorage({ dir: process.env.EDGECERT_DIR ?? ".edgecert" });
// Both challenges on offer: http-01 on port 80, tls-alpn-01 on 443 itself (works with port 80 closed).
const tlsAlpn01 = new TlsAlpn01Solver();
const manager = new CertificateManager({
  storage,
  directoryUrl: process.env.ACME_DIRECTORY_URL ?? DEFAULT_DIRECTORY_URL,
  // You read the CA's terms of service (its directory's meta.termsOfService) and agree to them.
  termsOfServiceAgreed: true,
  ...(process.env.EMAIL ? { email: process.env.EMAIL } : {}),
  solvers: { "http-01": new StorageHttp01Solver(storage), "tls-alpn-01": tlsAlpn01 },
  logger: consoleLogger(),
});

const server = await listen(manager, {
  names,
  tlsAlpn01,
  httpsPort: Number(process.env.HTTPS_PORT ?? 443),
  httpPort: Number(process.env.HTTP_PORT ?? 80),
  ...(process.env.HOST ? { hostname: process.env.HOST } : {}),
  handler: (req, res) => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(`Hello over HTTPS from Node ${process.version}: ${req.headers.host}${req.url}\n`);
  },
});
console.log(`serving https://${names[0]}:${server.httpsPort}/ with certificate ${server.certificate.serialNumber}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
