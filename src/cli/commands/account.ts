/**
 * `edgecert account`: the stored ACME account of `--server` + `--email` — show it, change its contact
 * (RFC 8555 §7.3.2), roll its key over (§7.3.5) or deactivate it (§7.3.6).
 * @module
 */
import { AcmeClient } from "../../acme/client.ts";
import type { AccountRecord } from "../../manager/records.ts";
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, keyAlgorithmOf } from "../../webcrypto/keys.ts";
import { pinningCaaRecord } from "../../preflight/caa-policy.ts";
import type { CliContext } from "../context.ts";
import { CliError, ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { listLineages, writeLineage } from "../lineages.ts";
import type { ACCOUNT_OPTIONS, ParsedFlags } from "../options.ts";
import { resolveServer } from "../servers.ts";

/** The account record while a key rollover is in flight: the new key is stored before the CA is asked. */
type RolloverRecord = AccountRecord & { nextKeyPem?: string };

/** Runs `account [show|update|rollover|deactivate]`; returns the exit code. */
export async function accountCommand(ctx: CliContext, flags: ParsedFlags<typeof ACCOUNT_OPTIONS>, positionals: string[]): Promise<ExitCodeValue> {
  const action = positionals[0] ?? "show";
  if (!["show", "update", "rollover", "deactivate", "caa"].includes(action)) {
    throw new CliError(`edgecert account ${JSON.stringify(action)}: use show, update, rollover, deactivate or caa (see edgecert account --help)`);
  }
  const directoryUrl = resolveServer(flags.server, {});
  const { key, record: stored } = await ctx.account(directoryUrl, flags.email);
  if (!stored) {
    throw new CliError(`no account for ${directoryUrl}${flags.email ? ` and ${flags.email}` : " without --email"} in ${ctx.storage.dir}: edgecert issue creates one`);
  }
  const fetchFn = await ctx.fetch(flags["ca-file"]);
  const clientFor = async (pem: string) => new AcmeClient({ directoryUrl, accountKey: await importPrivateKeyPem(pem), accountUrl: stored.url, fetch: fetchFn });
  const record = await finishRollover(ctx, key, stored as RolloverRecord, directoryUrl, fetchFn);
  const client = await clientFor(record.keyPem);

  if (action === "update") {
    const email = flags["new-email"];
    if (!email) throw new CliError("edgecert account update needs --new-email ADDRESS");
    const account = await client.updateAccount({ contact: [`mailto:${email}`] });
    // The record is found by email: move it, and point this CLI's certificates at the new one.
    const moved = await ctx.account(directoryUrl, email);
    const next: AccountRecord = { ...record, email };
    await ctx.storage.put(moved.key, JSON.stringify(next));
    for (const lineage of await listLineages(ctx.storage)) {
      if (lineage.directoryUrl === directoryUrl && lineage.email === flags.email) await writeLineage(ctx.storage, { ...lineage, email });
    }
    if (moved.key !== key) await ctx.storage.delete(key);
    ctx.result({ ok: true, command: "account update", url: record.url, contact: account.contact ?? [] }, [`Account ${record.url}: contact is now ${(account.contact ?? []).join(", ")}`]);
    return ExitCode.ok;
  }
  if (action === "rollover") {
    const current = await importPrivateKeyPem(record.keyPem);
    const newKey = await generateKeyPair(keyAlgorithmOf(current.privateKey));
    const nextKeyPem = await exportPrivateKeyPem(newKey.privateKey);
    // Stored first: if we crash after the CA switched keys, the next run still holds the new key.
    await ctx.storage.put(key, JSON.stringify({ ...record, nextKeyPem } satisfies RolloverRecord));
    await client.rolloverAccountKey(newKey);
    await ctx.storage.put(key, JSON.stringify({ ...record, keyPem: nextKeyPem } satisfies AccountRecord));
    ctx.result({ ok: true, command: "account rollover", url: record.url }, [`Account ${record.url}: key rolled over.`]);
    return ExitCode.ok;
  }
  if (action === "caa") {
    const domain = positionals[1];
    if (!domain || !/^[a-z0-9*-]+(\.[a-z0-9-]+)+\.?$/i.test(domain)) throw new CliError("edgecert account caa needs a domain, e.g. edgecert account caa example.com");
    const caIdentities = flags["caa-identity"] ? [flags["caa-identity"]] : ((await client.directory()).meta?.caaIdentities ?? []);
    if (caIdentities.length === 0) throw new CliError(`${directoryUrl} names no CAA identity in its directory (meta.caaIdentities): give it with --caa-identity NAME (the domain the CA's documentation says to put in CAA records)`);
    const line = pinningCaaRecord(domain, { caIdentities, accountUri: record.url, validationMethods: [], ...(flags.wildcard ? { wildcard: true } : {}) });
    ctx.result({ ok: true, command: "account caa", url: record.url, record: line }, [line]);
    return ExitCode.ok;
  }
  if (action === "deactivate") {
    if (!flags.yes) throw new CliError(`deactivating ${record.url} cannot be undone: rerun with --yes`);
    const account = await client.deactivateAccount();
    await ctx.storage.delete(key);
    ctx.result({ ok: true, command: "account deactivate", url: record.url, status: account.status }, [`Account ${record.url} is ${account.status}; removed it from ${ctx.storage.dir}.`]);
    return ExitCode.ok;
  }
  const account = await client.getAccount();
  ctx.result(
    { ok: true, command: "account", url: record.url, status: account.status, contact: account.contact ?? [], server: directoryUrl, createdAt: record.createdAt, keyType: keyAlgorithmOf((await importPrivateKeyPem(record.keyPem)).privateKey) },
    [`Account ${record.url}`, `  server  ${directoryUrl}`, `  status  ${account.status}`, `  contact ${(account.contact ?? []).join(", ") || "(none)"}`, `  created ${record.createdAt}`],
  );
  return ExitCode.ok;
}

/** A rollover interrupted after storing the new key: keep whichever key the CA now knows. */
async function finishRollover(ctx: CliContext, key: string, record: RolloverRecord, directoryUrl: string, fetchFn: typeof fetch): Promise<AccountRecord> {
  if (!record.nextKeyPem) return record;
  const { nextKeyPem, ...rest } = record;
  let keyPem = rest.keyPem;
  try {
    const probe = new AcmeClient({ directoryUrl, accountKey: await importPrivateKeyPem(nextKeyPem), fetch: fetchFn });
    // RFC 8555 §7.3.1 onlyReturnExisting: does the CA know the new key?
    if ((await probe.findAccount()).url === record.url) keyPem = nextKeyPem;
  } catch {
    // The CA does not know the new key: the rollover never happened.
  }
  const fixed: AccountRecord = { ...rest, keyPem };
  await ctx.storage.put(key, JSON.stringify(fixed));
  return fixed;
}
