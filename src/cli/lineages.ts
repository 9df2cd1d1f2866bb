/**
 * What the CLI remembers about each certificate it issued, so `renew` does what `issue` did: names,
 * CA, account email, key type, profile, how to solve challenges and the deploy hook. Kept in the
 * CLI's storage beside the manager's records (`cli/certificates/<name>.json`), so hosts sharing a
 * storage share it too. No secrets: EAB keys are used once, at account creation, and not stored.
 * @module
 */
import { toIdentifiers } from "../acme/identifiers.ts";
import { EdgecertError } from "../errors.ts";
import { certificateId } from "../manager/storage-keys.ts";
import type { Storage } from "../storage/storage.ts";
import type { KeyAlgorithmName } from "../webcrypto/keys.ts";
import type { ChallengeConfig } from "./challenge-solvers.ts";

/** One certificate the CLI manages. */
export interface Lineage {
  /** Directory name under live/. */
  name: string;
  names: string[];
  directoryUrl: string;
  email?: string;
  keyType: KeyAlgorithmName;
  profile?: string;
  challenges: ChallengeConfig;
  deployHook?: string;
  /** `--ca-file` given at issue (a path, re-read on every run). */
  caFile?: string;
  createdAt: string;
  updatedAt: string;
}

const PREFIX = "cli/certificates/";
const keyOf = (name: string) => `${PREFIX}${name}.json`;

/** The lineage called `name`, if any. */
export async function readLineage(storage: Storage, name: string): Promise<Lineage | undefined> {
  const bytes = await storage.get(keyOf(name));
  if (!bytes) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as Lineage;
  } catch (cause) {
    throw new EdgecertError("storage", `stored CLI record ${keyOf(name)} is not valid JSON`, { cause });
  }
}

/** Stores `lineage` (one atomic put). */
export function writeLineage(storage: Storage, lineage: Lineage): Promise<void> {
  return storage.put(keyOf(lineage.name), JSON.stringify(lineage, null, 2));
}

/** Forgets the lineage called `name`. */
export function deleteLineage(storage: Storage, name: string): Promise<void> {
  return storage.delete(keyOf(name));
}

/** Every lineage, by name. */
export async function listLineages(storage: Storage): Promise<Lineage[]> {
  const out: Lineage[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list(PREFIX, cursor ? { cursor } : {});
    for (const key of page.keys) {
      const lineage = await readLineage(storage, key.slice(PREFIX.length).replace(/\.json$/, ""));
      if (lineage) out.push(lineage);
    }
    cursor = page.cursor;
  } while (cursor);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The manager's record id of a lineage's name set: lineages with the same id share one certificate and key. */
export function lineageCertificateId(names: readonly string[]): Promise<string> {
  return certificateId(toIdentifiers([...names]));
}

/**
 * The lineages other than `except` whose names make the same certificate record as `names` (the
 * manager keeps one record, one key, per name set). A second lineage for such names would hold the
 * first one's key and be revoked with it, so `issue` refuses to create one and `revoke` removes the
 * ones older versions created.
 */
export async function lineagesSharing(storage: Storage, names: readonly string[], except: string): Promise<Lineage[]> {
  const id = await lineageCertificateId(names);
  const out: Lineage[] = [];
  for (const lineage of await listLineages(storage)) {
    if (lineage.name !== except && (await lineageCertificateId(lineage.names)) === id) out.push(lineage);
  }
  return out;
}
