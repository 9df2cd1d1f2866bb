import { DnsPersist01Solver } from "../src/acme/dns-persist/solver.ts";
import { CertificateManager } from "../src/manager/certificate-manager.ts";
import { StorageHttp01Solver } from "../src/manager/storage-http01-solver.ts";
import { readConfig, setting } from "./config.ts";
import type { Env } from "./env.ts";
import { workerStorage } from "./storage.ts";

/**
 * The manager a Worker invocation uses: its storage, CA and key type from the environment, validated
 * first (a bad variable throws `ConfigError` naming it).
 */
export async function buildManager(env: Env, options: { now?: () => number } = {}): Promise<CertificateManager> {
  const config = await readConfig(env);
  const storage = workerStorage(env, config.encryption);
  const resolver = setting(env.DNS_PERSIST_RESOLVER);
  const profile = setting(env.ACME_PROFILE);
  const email = setting(env.CONTACT_EMAIL);
  return new CertificateManager({
    storage,
    directoryUrl: config.directoryUrl,
    termsOfServiceAgreed: config.termsOfServiceAgreed,
    keyType: config.keyType,
    // dns-persist-01 beside http-01 (the manager's own token store): preferred where its record is in place.
    ...(resolver ? { solvers: { "http-01": new StorageHttp01Solver(storage), "dns-persist-01": new DnsPersist01Solver({ resolver }) } } : {}),
    ...(profile ? { profile } : {}),
    ...(email ? { email } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
