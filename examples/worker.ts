/**
 * edgecert in a Cloudflare Worker, in brief: a Hono app answers http-01 with `acmeChallenge(manager)`
 * and a cron trigger renews what is due. HTTPS itself is Cloudflare's edge (a custom hostname or your
 * own certificate upload); the Worker obtains and keeps the certificates.
 *
 * The full, deployable Worker — admin API, a renewal index in a Durable Object that keeps each cron
 * tick O(due), per-certificate renewer objects, KV/R2 for certificates — is in `workers/` with
 * `wrangler.toml` (see the README, "Deploy"). This file is the smallest shape of the same idea.
 *
 * From the published package:
 *   import { CertificateManager } from "edgecert";
 *   import { acmeChallenge } from "edgecert/hono";
 *   import { DurableObjectStorage, EdgecertStorageObject } from "edgecert/storage";
 */
import { Hono } from "hono";
import { CertificateManager, DEFAULT_DIRECTORY_URL } from "../src/index.ts";
import { acmeChallenge } from "../src/hono/index.ts";
import { DurableObjectStorage } from "../src/storage/durable-object-storage.ts";
import type { DurableObjectNamespaceLike } from "../src/storage/workers-bindings.ts";

// The Durable Object class the storage lives in; wrangler.toml binds it as EDGECERT_STORAGE.
export { EdgecertStorageObject } from "../src/storage/durable-object.ts";

interface Env {
  /** Durable Object namespace of `EdgecertStorageObject`: strongly consistent, so the CA sees tokens at once. */
  EDGECERT_STORAGE: DurableObjectNamespaceLike;
  ACME_DIRECTORY_URL?: string;
  CONTACT_EMAIL?: string;
}

function manager(env: Env): CertificateManager {
  return new CertificateManager({
    storage: new DurableObjectStorage(env.EDGECERT_STORAGE),
    directoryUrl: env.ACME_DIRECTORY_URL ?? DEFAULT_DIRECTORY_URL,
    // You read the CA's terms of service (its directory's meta.termsOfService) and agree to them.
    termsOfServiceAgreed: true,
    ...(env.CONTACT_EMAIL ? { email: env.CONTACT_EMAIL } : {}),
  });
}

const app = new Hono<{ Bindings: Env }>();
// GET /.well-known/acme-challenge/:token → the key authorization; everything else falls through.
app.use("/.well-known/acme-challenge/*", (c, next) => acmeChallenge(manager(c.env))(c, next));
app.get("/", (c) => c.text("edgecert worker\n"));

export default {
  fetch: app.fetch,
  /** Cron trigger (e.g. every 6 hours): renew what is due; the manager backs off after failures. */
  async scheduled(_controller: unknown, env: Env, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<void> {
    ctx.waitUntil(manager(env).renewDue());
  },
};
