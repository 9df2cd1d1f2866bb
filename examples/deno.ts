/**
 * Automatic HTTPS on Deno: `Deno.serve` with a certificate from edgecert, re-served when renewed.
 *
 *   DOMAINS=example.com,www.example.com EMAIL=ops@example.com deno run -A examples/deno.ts
 *
 * Add `--unstable-net` and REUSE_PORT=1 to start the renewed server beside the old one (SO_REUSEPORT),
 * so the port never stops listening. Needs ports 443 and 80 (http-01 and the redirect to HTTPS)
 * reachable from the internet under those names. Uses Let's Encrypt production (edgecert's default CA) unless
 * ACME_DIRECTORY_URL says otherwise (staging while trying it out:
 * https://acme-staging-v02.api.letsencrypt.org/directory); state lives in EDGECERT_DIR (default `.edgecert`).
 *
 * From JSR:
 *   import { CertificateManager } from "jsr:@edgecert/edgecert";
 *   import { FileStorage } from "jsr:@edgecert/edgecert/storage/file";
 *   import { serveWithCertificates } from "jsr:@edgecert/edgecert/tls/deno";
 */
import process from "node:process";
import { CertificateManager, DEFAULT_DIRECTORY_URL, consoleLogger } from "../src/index.ts";
import { FileStorage } from "../src/storage/file.ts";
import { serveWithCertificates } from "../src/tls/deno.ts";

const names = (process.env.DOMAINS ?? "").split(",").map((n) => n.trim()).filter(Boolean);
if (names.length === 0) throw new Error("set DOMAINS=example.com[,www.example.com]");

// Declared first: the manager's event hook below refers to it.
let served: Awaited<ReturnType<typeof serveWithCertificates>> | undefined;
const manager = new CertificateManager({
  storage: new FileStorage({ dir: process.env.EDGECERT_DIR ?? ".edgecert" }),
  directoryUrl: process.env.ACME_DIRECTORY_URL ?? DEFAULT_DIRECTORY_URL,
  // You read the CA's terms of service (its directory's meta.termsOfService) and agree to them.
  termsOfServiceAgreed: true,
  ...(process.env.EMAIL ? { email: process.env.EMAIL } : {}),
  logger: consoleLogger(),
  // Re-serve as soon as a renewal lands rather than at the next check.
  onEvent: (event) => {
    if (event.type === "certificate_renewed") void served?.refresh();
  },
});

const running = await serveWithCertificates(manager, {
  names,
  port: Number(process.env.HTTPS_PORT ?? 443),
  httpPort: Number(process.env.HTTP_PORT ?? 80),
  ...(process.env.HOST ? { hostname: process.env.HOST } : {}),
  reusePort: process.env.REUSE_PORT === "1",
  handler: (request, info) => new Response(`Hello over HTTPS from Deno, ${info.remoteAddr.hostname}: ${new URL(request.url).host}\n`),
  onError: (error) => console.error("edgecert:", error),
});
served = running;
console.log(`serving https://${names[0]}:${running.port}/ with certificate ${running.certificate.serialNumber}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
