import { DnsPersist01Solver } from "../src/acme/dns-persist/solver.ts";
import { CertificateManager } from "../src/manager/certificate-manager.ts";
import { CaaCache } from "../src/preflight/caa-cache.ts";
import { StorageHttp01Solver } from "../src/manager/storage-http01-solver.ts";
import type { Solver } from "../src/acme/solver.ts";
import { CloudflareDnsSolver } from "../src/dns/cloudflare-dns-solver.ts";
import { readConfig, setting } from "./config.ts";
import type { Env } from "./env.ts";
import { workerStorage } from "./storage.ts";
import { sharedBudgetQueue } from "./ca-budget-queue.ts";

/** CAA answers for every manager of this isolate (each invocation builds its own manager). */
const caaCache = new CaaCache();

/**
 * Longest a Worker invocation waits in the CA budget's queue. Beyond it the order stays parked in the
 * queue, which runs the renewer again when its turn comes (workers/ca-budget-queue.ts): the wait only
 * saves that second run, and a tick's renewal waiting here holds one of its few places meanwhile.
 */
const BUDGET_MAX_WAIT_MS = 3_000;

/**
 * The manager a Worker invocation uses: its storage, CA and key type from the environment, validated
 * first (a bad variable throws `ConfigError` naming it).
 */
export async function buildManager(env: Env, options: { now?: () => number; challenge?: string } = {}): Promise<CertificateManager> {
  const config = await readConfig(env);
  const storage = workerStorage(env, config.encryption);
  const cloudflare = config.cloudflare;
  const resolver = config.dnsPersistResolver;
  const solvers: Record<string, Solver> = { "http-01": new StorageHttp01Solver(storage) };
  // dns-01 through the Cloudflare API, checked over DoH before the CA is asked (wildcards, unreachable names).
  if (cloudflare) {
    solvers["dns-01"] = new CloudflareDnsSolver({
      apiToken: cloudflare.apiToken,
      ...(cloudflare.zoneId ? { zoneId: cloudflare.zoneId } : {}),
      ...(cloudflare.apiBaseUrl ? { apiBaseUrl: cloudflare.apiBaseUrl } : {}),
      ...(cloudflare.resolvers ? { propagation: { resolvers: cloudflare.resolvers } } : {}),
    });
  }
  // dns-persist-01: preferred where its record is in place.
  if (resolver) solvers["dns-persist-01"] = new DnsPersist01Solver({ resolver });
  const profile = setting(env.ACME_PROFILE);
  const email = setting(env.CONTACT_EMAIL);
  return new CertificateManager({
    storage,
    directoryUrl: config.directoryUrl,
    termsOfServiceAgreed: config.termsOfServiceAgreed,
    keyType: config.keyType,
    solvers,
    // The certificate's own choice first; the CA's offer decides among the rest.
    ...(options.challenge ? { preferredChallenges: [options.challenge, ...config.challenges.filter((c) => c !== options.challenge)] } : {}),
    ...(profile ? { profile } : {}),
    ...(email ? { email } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(config.caLimits ? { caLimits: config.caLimits } : {}),
    // An invocation cannot wait out a spent budget: the attempt fails at once (nothing sent) and the
    // certificate's failure state brings it back when the budget holds a token again.
    budgetMaxWaitMs: BUDGET_MAX_WAIT_MS,
    // Every invocation waits in the deployment's one queue: turns across registered domains are fleet-wide.
    budgetQueue: sharedBudgetQueue(env),
    // One per isolate: renewals of names under one domain look its CAA records up once per TTL.
    caaCache,
  });
}
