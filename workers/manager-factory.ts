import { DnsPersist01Solver } from "../src/acme/dns-persist/solver.ts";
import { CertificateManager } from "../src/manager/certificate-manager.ts";
import { StorageHttp01Solver } from "../src/manager/storage-http01-solver.ts";
import type { KeyAlgorithmName } from "../src/webcrypto/keys.ts";
import type { Env } from "./env.ts";
import { workerStorage } from "./storage.ts";

const KEY_TYPES: readonly KeyAlgorithmName[] = ["ES256", "ES384", "RS256", "EdDSA"];

/** The manager a Worker invocation uses: its storage, CA and key type from the environment. */
export function buildManager(env: Env, options: { now?: () => number } = {}): CertificateManager {
  const keyType = (env.KEY_TYPE ?? "ES256") as KeyAlgorithmName;
  if (!KEY_TYPES.includes(keyType)) throw new Error(`KEY_TYPE must be one of ${KEY_TYPES.join(", ")}`);
  const storage = workerStorage(env);
  return new CertificateManager({
    storage,
    directoryUrl: env.ACME_DIRECTORY_URL,
    termsOfServiceAgreed: env.ACME_TERMS_OF_SERVICE_AGREED === "true",
    keyType,
    // dns-persist-01 beside http-01 (the manager's own token store): preferred where its record is in place.
    ...(env.DNS_PERSIST_RESOLVER
      ? { solvers: { "http-01": new StorageHttp01Solver(storage), "dns-persist-01": new DnsPersist01Solver({ resolver: env.DNS_PERSIST_RESOLVER }) } }
      : {}),
    ...(env.ACME_PROFILE ? { profile: env.ACME_PROFILE } : {}),
    ...(env.CONTACT_EMAIL ? { email: env.CONTACT_EMAIL } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
