/**
 * `edgecert issue`: obtain (or keep) the certificate for a name set and put it on disk.
 * @module
 */
import { formatSerial } from "../../webcrypto/serial.ts";
import { toIdentifiers } from "../../acme/identifiers.ts";
import type { AcmeDirectory } from "../../acme/types.ts";
import { buildSolvers, type ChallengeConfig } from "../challenge-solvers.ts";
import type { CliContext } from "../context.ts";
import { deploy, hookFailure } from "../deploy.ts";
import { errorLine, problemDocument } from "../error-message.ts";
import { CliError, ExitCode, type ExitCodeValue } from "../exit-codes.ts";
import { parseKeyType } from "../key-type.ts";
import { assertCertName, defaultCertName, livePaths } from "../live-files.ts";
import { lineagesSharing, readLineage, writeLineage, type Lineage } from "../lineages.ts";
import { portOption, type ISSUE_OPTIONS, type ParsedFlags } from "../options.ts";
import { describeServer, resolveServer } from "../servers.ts";

import { obtainAndDeploy } from "./obtain-and-deploy.ts";

type IssueFlags = ParsedFlags<typeof ISSUE_OPTIONS>;

/** The challenge configuration the flags describe. */
export function challengeConfig(flags: IssueFlags): ChallengeConfig {
  const config: ChallengeConfig = {};
  if (flags.http || flags["http-port"] !== undefined) {
    config.http = { port: portOption("--http-port", flags["http-port"], 80), ...(flags["http-address"] ? { address: flags["http-address"] } : {}) };
  }
  if (flags.webroot) config.webroot = flags.webroot;
  if (flags["self-check"]) config.selfCheck = true;
  if (flags["tls-alpn"] || flags["tls-port"] !== undefined) {
    config.tlsAlpn = { port: portOption("--tls-port", flags["tls-port"], 443), ...(flags["tls-address"] ? { address: flags["tls-address"] } : {}) };
  }
  if (flags.dns !== undefined) config.dns = flags.dns as "cloudflare";
  if (flags.dns !== undefined && flags["doh-resolver"]) config.dnsResolver = flags["doh-resolver"];
  if (flags["dns-exec"]) config.dnsExec = flags["dns-exec"];
  if (flags["dns-persist"]) config.dnsPersist = flags["doh-resolver"] ? { resolver: flags["doh-resolver"] } : {};
  return config;
}

/** Runs `issue`; returns the exit code. */
export async function issueCommand(ctx: CliContext, flags: IssueFlags, positionals: string[]): Promise<ExitCodeValue> {
  const given = [...(flags.domain ?? []), ...positionals].flatMap((d) => d.split(",")).map((d) => d.trim()).filter(Boolean);
  if (given.length === 0) throw new CliError("edgecert issue needs at least one name: -d example.com (see edgecert issue --help)");
  let names: string[];
  try {
    names = toIdentifiers(given).map((i) => i.value);
  } catch (err) {
    throw new CliError(`edgecert issue: ${(err as Error).message}`);
  }
  const name = flags["cert-name"] ? assertCertName(flags["cert-name"]) : defaultCertName(names);
  const directoryUrl = resolveServer(flags.server, { ...(flags["eab-kid"] ? { kid: flags["eab-kid"] } : {}), ...(flags["eab-hmac"] ? { hmac: flags["eab-hmac"] } : {}) });
  const challenges = challengeConfig(flags);
  const keyType = parseKeyType(flags["key-type"]);
  // Fail on challenge flags before any request.
  buildSolvers(challenges, fetch);

  // One name set, one certificate record and key (the manager's): a second --cert-name for the same
  // names would copy the first one's key and be revoked along with it. Refused before any request.
  const holder = (await lineagesSharing(ctx.storage, names, name))[0];
  if (holder) {
    throw new CliError(
      `certificate ${holder.name} (${livePaths(ctx.dir, holder.name).dir}) already holds ${names.join(", ")}: a second certificate name for the same names would share its private key and be revoked with it. ` +
        `Use --cert-name ${holder.name} (add --force-renewal for a new certificate), change the names, or revoke it first (edgecert revoke --cert-name ${holder.name})`,
    );
  }

  const { record } = await ctx.account(directoryUrl, flags.email);
  if (!record && !flags["agree-tos"]) {
    const terms = await termsOfService(ctx, directoryUrl, flags["ca-file"]);
    throw new CliError(
      `creating an account at ${describeServer(directoryUrl)} requires agreeing to its terms of service${terms ? ` (${terms})` : ""}: read them, then rerun with --agree-tos`,
    );
  }

  const previous = await readLineage(ctx.storage, name);
  const now = new Date(ctx.now()).toISOString();
  const lineage: Lineage = {
    name,
    names,
    directoryUrl,
    keyType,
    challenges,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
    ...(flags.email ? { email: flags.email } : {}),
    ...(flags.profile ? { profile: flags.profile } : {}),
    ...(flags["deploy-hook"] ? { deployHook: flags["deploy-hook"] } : {}),
    ...(flags["ca-file"] ? { caFile: flags["ca-file"] } : {}),
  };
  const eab = flags["eab-kid"] && flags["eab-hmac"] ? { kid: flags["eab-kid"], hmacKey: flags["eab-hmac"] } : undefined;
  const outcome = await obtainAndDeploy(ctx, lineage, { force: flags["force-renewal"] === true, eab, action: "issue" });
  if (outcome.error) {
    const line = outcome.line ?? errorLine(outcome.error, names);
    ctx.result({ ok: false, command: "issue", name, names, error: line, problem: problemDocument(outcome.error) ?? null }, []);
    ctx.failure(line, outcome.error);
    return ExitCode.failed;
  }
  // Remembered only once it worked: a failed first issue leaves nothing for renew to retry forever.
  await writeLineage(ctx.storage, lineage);
  const cert = outcome.certificate!;
  const deployed = outcome.deployed!;
  const failure = hookFailure(name, deployed);
  ctx.result(
    {
      ok: failure === undefined,
      command: "issue",
      name,
      names,
      obtained: outcome.obtained,
      changed: deployed.changed,
      serialNumber: formatSerial(cert.serialNumber),
      notAfter: cert.notAfter.toISOString(),
      renewAt: cert.renewAt.toISOString(),
      paths: deployed.paths,
      hook: deployed.hook ?? null,
    },
    [
      outcome.obtained
        ? `Certificate for ${names.join(", ")} saved in ${deployed.paths.dir}/ (expires ${cert.notAfter.toISOString()}, renews from ${cert.renewAt.toISOString()})`
        : `Certificate for ${names.join(", ")} is current (expires ${cert.notAfter.toISOString()}); ${deployed.changed ? "files written" : "nothing changed"} in ${deployed.paths.dir}/`,
      ...(deployed.hook?.ok ? ["Deploy hook ran."] : []),
    ],
  );
  if (failure) {
    ctx.error(failure.line);
    return failure.exitCode as ExitCodeValue;
  }
  return ExitCode.ok;
}

/** The CA's terms-of-service URL (RFC 8555 §7.1.1 `meta.termsOfService`), best effort. */
async function termsOfService(ctx: CliContext, directoryUrl: string, caFile: string | undefined): Promise<string | undefined> {
  try {
    const res = await (await ctx.fetch(caFile))(directoryUrl, { signal: AbortSignal.timeout(15_000) });
    const directory = (await res.json()) as AcmeDirectory;
    return typeof directory.meta?.termsOfService === "string" ? directory.meta.termsOfService : undefined;
  } catch {
    return undefined;
  }
}
