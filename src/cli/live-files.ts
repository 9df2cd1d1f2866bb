/// <reference types="node" />
/**
 * Certificates on disk as certbot lays them out, so nginx/haproxy/postfix configs written for certbot
 * work unchanged: `<dir>/live/<name>/{cert,chain,fullchain,privkey}.pem`.
 *
 * Atomic as a set, not only per file: the four files of one certificate are written (and flushed) into
 * a fresh directory `<dir>/archive/<name>/<serial>/`, and `live/<name>` is a symlink swapped onto it
 * with one rename. A server reading `fullchain.pem` and `privkey.pem` while a renewal lands sees either
 * the old pair or the new one, never a new certificate with the old key.
 * @module
 */
import { mkdir, open, readdir, readlink, rename, rm, stat, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { splitPemChain } from "../webcrypto/pem.ts";
import { formatSerial } from "../webcrypto/serial.ts";
import { CliError, ExitCode } from "./exit-codes.ts";

/** Paths of one certificate's files, as the deploy hook and `list` report them. */
export interface LivePaths {
  dir: string;
  cert: string;
  chain: string;
  fullchain: string;
  privkey: string;
}

/** What gets written for one certificate. */
export interface LiveCertificate {
  /** Leaf first, PEM. */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** Hex serial, any form {@link formatSerial} takes: names the archive directory as openssl prints it. */
  serialNumber: string;
}

const DEPLOYED_MARK = ".deployed";
/** Archive directories kept per name: the live one and the one before (to roll back by hand). */
const KEEP_ARCHIVES = 2;

/** A certificate name usable as a directory name: letters, digits, `.`, `_`, `-`; not starting with `.`. */
export function assertCertName(name: string): string {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/.test(name)) {
    throw new CliError(`--cert-name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-' (not starting with '.')`);
  }
  return name;
}

/** The default certificate name: the first name given, wildcards as `_wildcard.` and IPv6 colons as `_`. */
export function defaultCertName(names: readonly string[]): string {
  return assertCertName((names[0] ?? "").toLowerCase().replace(/^\*\./, "_wildcard.").replace(/[^A-Za-z0-9._-]/g, "_"));
}

/** The live paths of certificate `name` under `dir`. */
export function livePaths(dir: string, name: string): LivePaths {
  const live = join(dir, "live", name);
  return { dir: live, cert: join(live, "cert.pem"), chain: join(live, "chain.pem"), fullchain: join(live, "fullchain.pem"), privkey: join(live, "privkey.pem") };
}

/**
 * The archive directory `live/<name>` points at when it shows this serial, else undefined. Compared as
 * serials, not strings: directories written before serials were named as openssl prints them carry the
 * DER sign byte and lower case (`0087654321` for `87654321`) and still count as this serial.
 */
async function liveArchiveOf(dir: string, name: string, serialNumber: string): Promise<string | undefined> {
  try {
    const target = await readlink(join(dir, "live", name));
    const folder = target.slice(target.lastIndexOf("/") + 1);
    return formatSerial(folder) === formatSerial(serialNumber) ? join(dir, "archive", name, folder) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `live/<name>` already shows this serial and its deploy hook ran (nothing to do). */
export async function isDeployed(dir: string, name: string, serialNumber: string): Promise<boolean> {
  const archived = await liveArchiveOf(dir, name, serialNumber);
  return archived !== undefined && (await exists(join(archived, DEPLOYED_MARK)));
}

/** Records that the deploy hook ran for this serial (in the directory `live/<name>` shows), so it never runs again for it. */
export async function markDeployed(dir: string, name: string, serialNumber: string): Promise<void> {
  const archived = (await liveArchiveOf(dir, name, serialNumber)) ?? join(dir, "archive", name, formatSerial(serialNumber));
  await writeFile(join(archived, DEPLOYED_MARK), `${new Date().toISOString()}\n`, { mode: 0o644 });
}

/** Writes the four files for `cert` and points `live/<name>` at them in one rename. Returns their paths. */
export async function writeLive(dir: string, name: string, cert: LiveCertificate): Promise<LivePaths> {
  const [leaf, ...intermediates] = splitPemChain(cert.chainPem);
  if (!leaf) throw new CliError(`the certificate for ${name} has no PEM blocks`, ExitCode.failed);
  const archive = join(dir, "archive", name);
  const serial = formatSerial(cert.serialNumber);
  const final = join(archive, serial);
  const liveDir = join(dir, "live");
  await mkdir(archive, { recursive: true, mode: 0o755 });
  await mkdir(liveDir, { recursive: true, mode: 0o755 });
  if (!(await exists(final))) {
    const temp = join(archive, `.tmp-${crypto.randomUUID()}`);
    await mkdir(temp, { mode: 0o755 });
    try {
      const chain = intermediates.join("");
      await writeSynced(join(temp, "cert.pem"), leaf, 0o644);
      await writeSynced(join(temp, "chain.pem"), chain, 0o644);
      await writeSynced(join(temp, "fullchain.pem"), leaf + chain, 0o644);
      // The private key: owner only, from the moment the file exists (mode given at create).
      await writeSynced(join(temp, "privkey.pem"), cert.keyPem.endsWith("\n") ? cert.keyPem : `${cert.keyPem}\n`, 0o600);
      await rename(temp, final);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      // Another process (same serial) finished first: its files are the same certificate.
      if (!(await exists(final))) throw err;
    }
  }
  const link = join(liveDir, name);
  const tempLink = join(liveDir, `.tmp-${name}-${crypto.randomUUID()}`);
  await symlink(join("..", "archive", name, serial), tempLink);
  try {
    await rename(tempLink, link);
  } catch (err) {
    await unlink(tempLink).catch(() => undefined);
    const code = (err as { code?: string }).code;
    if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") {
      throw new CliError(`${link} is a directory, not the symlink edgecert maintains: move it away and rerun`, ExitCode.failed, { cause: err });
    }
    throw err;
  }
  await pruneArchive(archive, serial);
  return livePaths(dir, name);
}

/** Removes `live/<name>` and its archive (after revoke with `--delete`). */
export async function removeLive(dir: string, name: string): Promise<void> {
  await unlink(join(dir, "live", name)).catch(() => undefined);
  await rm(join(dir, "archive", name), { recursive: true, force: true });
}

async function pruneArchive(archive: string, current: string): Promise<void> {
  const entries = await readdir(archive, { withFileTypes: true });
  const dated: Array<{ name: string; mtime: number }> = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith(".") || e.name === current) continue;
    dated.push({ name: e.name, mtime: (await stat(join(archive, e.name))).mtimeMs });
  }
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const old of dated.slice(KEEP_ARCHIVES - 1)) await rm(join(archive, old.name), { recursive: true, force: true });
}

async function writeSynced(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, "wx", mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
