import { CertificateManager } from "../src/manager/certificate-manager.ts";
import type { KeyAlgorithmName } from "../src/webcrypto/keys.ts";
import type { Env } from "./env.ts";
import { workerStorage } from "./storage.ts";

const KEY_TYPES: readonly KeyAlgorithmName[] = ["ES256", "ES384", "RS256", "EdDSA"];

/** The manager a Worker invocation uses: its storage, CA and key type from the environment. */
export function buildManager(env: Env, options: { now?: () => number } = {}): CertificateManager {
  const keyType = (env.KEY_TYPE ?? "ES256") as KeyAlgorithmName;
  if (!KEY_TYPES.includes(keyType)) throw new Error(`KEY_TYPE must be one of ${KEY_TYPES.join(", ")}`);
  return new CertificateManager({
    storage: workerStorage(env),
    directoryUrl: env.ACME_DIRECTORY_URL,
    keyType,
    ...(env.CONTACT_EMAIL ? { email: env.CONTACT_EMAIL } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
}
