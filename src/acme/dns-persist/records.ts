/**
 * The `_validation-persist` TXT records to create for a set of names and an account.
 * @experimental draft-ietf-acme-dns-persist (revision: `DNS_PERSIST_DRAFT` in rules.ts).
 * @module
 */
import type { AcmeClient } from "../client.ts";
import { toIdentifiers } from "../identifiers.ts";
import {
  DnsPersistError,
  formatDnsPersistRecord,
  persistBaseName,
  splitTxtCharacterStrings,
  validationPersistName,
} from "./rules.ts";

/** One TXT record to create, ready for a DNS provider's form, API or zone file. @experimental */
export interface DnsPersistRecordToCreate {
  /** The record name, e.g. `_validation-persist.example.com` (no trailing dot). */
  name: string;
  /** Always TXT. */
  type: "TXT";
  /** The RDATA as one string (what most DNS provider APIs take). */
  value: string;
  /** The RDATA split into character-strings of at most 255 octets (§9.1). */
  strings: string[];
  /** A zone file line: `_validation-persist.example.com. IN TXT "..." "..."`. */
  zoneFileLine: string;
  /** The requested names this record authorizes. */
  covers: string[];
}

/** Input of {@link dnsPersistRecordsFor}. @experimental */
export interface DnsPersistRecordsOptions {
  /** Names of the certificate(s): `example.com`, `*.example.com`, `www.example.com`. IP addresses are refused. */
  names: readonly string[];
  /** The account URI: the ACME account URL (`client.accountUrl`), or the challenge's `accounturi`. */
  accountUri: string;
  /** One of the CA's issuer domain names (the challenge's, or the directory's `caaIdentities`). */
  issuerDomainName: string;
  /** Optional end of the records' validity for new validations. */
  persistUntil?: Date | number;
}

/**
 * The exact records a domain owner creates once so that the CA can validate `names` for the account
 * with dns-persist-01: one record per base name, with `policy=wildcard` when a wildcard of it is asked
 * for (§5.1). Subdomains get a record of their own (narrowest scope); a parent record with
 * `policy=wildcard` would cover them too.
 * @experimental
 */
export function dnsPersistRecordsFor(options: DnsPersistRecordsOptions): DnsPersistRecordToCreate[] {
  const identifiers = toIdentifiers(options.names);
  const byBase = new Map<string, { wildcard: boolean; covers: string[] }>();
  for (const id of identifiers) {
    if (id.type !== "dns") throw new DnsPersistError("invalid_record_input", `dns-persist-01 validates DNS names only, not ${id.value} (§8.1)`);
    const base = persistBaseName(id.value);
    const entry = byBase.get(base) ?? { wildcard: false, covers: [] };
    entry.wildcard ||= id.value.startsWith("*.");
    entry.covers.push(id.value);
    byBase.set(base, entry);
  }
  return [...byBase].map(([base, { wildcard, covers }]) => {
    const value = formatDnsPersistRecord({
      issuerDomainName: options.issuerDomainName,
      accountUri: options.accountUri,
      wildcard,
      ...(options.persistUntil !== undefined ? { persistUntil: options.persistUntil } : {}),
    });
    const name = validationPersistName(base);
    const strings = splitTxtCharacterStrings(value);
    return {
      name,
      type: "TXT" as const,
      value,
      strings,
      zoneFileLine: `${name}. IN TXT ${strings.map((s) => `"${s}"`).join(" ")}`,
      covers,
    };
  });
}

/** The records one ACME account needs at one CA, from {@link dnsPersistRecordsForClient}. @experimental */
export interface DnsPersistAccountRecords {
  /** The account URL the records name (mode 3a, §4.1 item 3). */
  accountUri: string;
  /** The issuer domain name used, and all the CA lists in `caaIdentities`. */
  issuerDomainName: string;
  /** Every issuer domain name the CA lists (the challenge may name any of them). */
  issuerDomainNames: string[];
  /** The records to create. */
  records: DnsPersistRecordToCreate[];
}

/**
 * Pre-provisioning (§4.5): the records for `names` under `client`'s account URL, with an issuer domain
 * name from the directory's `caaIdentities` (or `issuerDomainName`, e.g. from the CA's CP/CPS). The
 * client must have an account. Throws {@link DnsPersistError} when no issuer domain name is known.
 * @experimental
 */
export async function dnsPersistRecordsForClient(
  client: AcmeClient,
  names: readonly string[],
  options: { issuerDomainName?: string; persistUntil?: Date | number; signal?: AbortSignal } = {},
): Promise<DnsPersistAccountRecords> {
  const accountUri = client.accountUrl;
  if (!accountUri) throw new DnsPersistError("invalid_record_input", "the client has no account yet: records name the account URL (§4.5)");
  const listed = (await client.directory(options.signal ? { signal: options.signal } : {})).meta?.caaIdentities ?? [];
  const issuerDomainNames = listed.filter((n): n is string => typeof n === "string").map((n) => n.toLowerCase());
  const issuerDomainName = options.issuerDomainName ?? issuerDomainNames[0];
  if (!issuerDomainName) {
    throw new DnsPersistError("invalid_record_input", `${client.directoryUrl} lists no caaIdentities: pass the issuer domain name from the CA's CP/CPS (§4.5)`);
  }
  const records = dnsPersistRecordsFor({
    names,
    accountUri,
    issuerDomainName,
    ...(options.persistUntil !== undefined ? { persistUntil: options.persistUntil } : {}),
  });
  return { accountUri, issuerDomainName, issuerDomainNames: issuerDomainNames.length ? issuerDomainNames : [issuerDomainName], records };
}
