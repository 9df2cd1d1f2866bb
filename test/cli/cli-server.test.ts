import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rename, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DIRECTORY_URL, LETS_ENCRYPT_PRODUCTION } from "../../src/acme/constants.ts";
import { describeServer, resolveServer } from "../../src/cli/servers.ts";
import { FileStorage } from "../../src/storage/file-storage.ts";
import { openssl } from "../support/openssl.ts";
import { bedFlags, cliCommand, httpFlags, runCli, runCliCommand, show, startCliBed, type CliBed, type CliRun } from "./cli-bed.ts";

/**
 * The CLI on a real server (issue 25, items 1–7): the real `edgecert` executable (Node bundle)
 * against Pebble behind the bed's counting proxy.
 */
let bed: CliBed;
beforeAll(async () => {
  bed = await startCliBed();
});
afterAll(async () => {
  await bed?.stop();
});

const common = (dir: string) => bedFlags(bed, dir);
const http = () => httpFlags(bed);
const root = join(import.meta.dirname, "..", "..");

/** Runs the CLI (Node bundle) under `umask 077`, as systemd's `UMask=0077` runs a service. */
function runUnderUmask077(args: string[]): Promise<CliRun> {
  const { binary, args: pre } = cliCommand(bed, "node");
  return runCliCommand(bed, { binary: "/bin/sh", args: ["-c", 'umask 077 && exec "$@"', "sh", binary, ...pre], cwd: root }, args);
}

/**
 * A stand-in for nginx serving a webroot as another user (www-data): a folder from the webroot down it
 * may enter only with the "others" execute bit, a file it may read only with the "others" read bit;
 * otherwise it answers 403, as nginx does. It records the modes it saw, for the assertions.
 */
async function otherUserWebServer(webroot: string, port: number): Promise<{ seen: Array<{ path: string; mode: number }>; close(): Promise<void> }> {
  const seen: Array<{ path: string; mode: number }> = [];
  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      const parts = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).split("/").filter(Boolean);
      let at = webroot;
      try {
        for (const [i, part] of ["", ...parts].entries()) {
          at = part ? join(at, part) : at;
          const mode = (await stat(at)).mode & 0o777;
          seen.push({ path: at, mode });
          const last = i === parts.length;
          if (!last && (mode & 0o001) === 0) return void res.writeHead(403).end("403 Forbidden\n");
          if (last && (mode & 0o004) === 0) return void res.writeHead(403).end("403 Forbidden\n");
        }
        res.writeHead(200, { "content-type": "text/plain" }).end(await readFile(at));
      } catch {
        res.writeHead(404).end("404 Not Found\n");
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return { seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("edgecert on a real server", () => {
  it("serials as openssl prints them: EDGECERT_SERIAL, --json, messages and archive/<name>/<serial>; an archive folder named the old way (sign byte, lower case) still counts", async () => {
    const dir = join(bed.dir, "serial");
    const log = join(bed.dir, "serial-hook.log");
    const args = ["issue", "-d", "serial.example.test", "--agree-tos", ...http(), ...common(dir), "--deploy-hook", `echo "$EDGECERT_SERIAL" >> ${log}`];
    const first = await runCli(bed, "node", [...args, "--json"]);
    expect(first.code, show(first)).toBe(0);
    const live = join(dir, "live", "serial.example.test");
    const printed = (await openssl(["x509", "-noout", "-serial", "-in", "{dir}/c.pem"], { "c.pem": await readFile(join(live, "cert.pem")) })).trim().replace(/^serial=/, "");
    expect(first.json!.serialNumber).toBe(printed);
    expect((await readFile(log, "utf8")).trim()).toBe(printed);
    expect(await readlink(live)).toBe(join("..", "archive", "serial.example.test", printed));

    // A folder written before this change: DER content with its sign byte, lower case. Pretend it is that.
    const legacy = `00${printed.toLowerCase()}`;
    const archive = join(dir, "archive", "serial.example.test");
    await rename(join(archive, printed), join(archive, legacy));
    await rm(live);
    await symlink(join("..", "archive", "serial.example.test", legacy), live);
    const again = await runCli(bed, "node", args);
    expect(again.code, show(again)).toBe(0);
    // Nothing rewritten, the hook did not run again, no request.
    expect(again.stdout).toContain("nothing changed");
    expect(again.requests).toBe(0);
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual([printed]);
    expect(await readlink(live)).toBe(join("..", "archive", "serial.example.test", legacy));

    const list = await runCli(bed, "node", ["list", ...common(dir), "--json"]);
    expect(list.json).toMatchObject({ certificates: [{ serialNumber: printed }] });
    const revoke = await runCli(bed, "node", ["revoke", "--cert-name", "serial.example.test", ...common(dir)]);
    expect(revoke.code, show(revoke)).toBe(0);
    expect(revoke.stdout).toContain(`(serial ${printed})`);
    console.log(`[cli-server] serial ${printed} (high bit ${parseInt(printed.slice(0, 2), 16) >= 0x80 ? "set" : "clear"})`);
  });

  it("--webroot under umask 077: challenge folders 0755 and file 0644, so a web server running as another user serves them; a closed webroot gets a hint naming it, printed once", async () => {
    // Its own base, open to others like /var/www (the bed's temp dir is 0700).
    const base = await mkdtemp(join(tmpdir(), "edgecert-webroot-"));
    await chmod(base, 0o755);
    const webroot = join(base, "www");
    await mkdir(webroot);
    await chmod(webroot, 0o755);
    const web = await otherUserWebServer(webroot, bed.pebble.httpPort);
    try {
      const dir = join(bed.dir, "webroot");
      const run = await runUnderUmask077(["issue", "-d", "webroot.example.test", "--agree-tos", "--webroot", webroot, ...common(dir), "--json"]);
      expect(run.code, show(run)).toBe(0);
      const served = web.seen.filter((s) => s.path.includes("acme-challenge"));
      const file = served.find((s) => s.path !== join(webroot, ".well-known", "acme-challenge"));
      expect(file, JSON.stringify(web.seen)).toBeDefined();
      expect(file!.mode.toString(8)).toBe("644");
      expect((web.seen.find((s) => s.path === join(webroot, ".well-known"))!.mode).toString(8)).toBe("755");
      expect((web.seen.find((s) => s.path === join(webroot, ".well-known", "acme-challenge"))!.mode).toString(8)).toBe("755");
      // The file is gone after validation; its folders stay, readable.
      expect(((await stat(join(webroot, ".well-known", "acme-challenge"))).mode & 0o777).toString(8)).toBe("755");

      // The operator's own webroot closed to others: the CA gets 403 (unauthorized), and the hint names the folder.
      await chmod(webroot, 0o700);
      const closed = await runUnderUmask077(["issue", "-d", "closed.example.test", "--agree-tos", "--webroot", webroot, ...common(join(bed.dir, "webroot-closed"))]);
      expect(closed.code, show(closed)).toBe(1);
      const line = closed.stderr.split("\n").find((l) => l.startsWith("edgecert: "));
      expect(line, show(closed)).toMatch(/validation failed for closed\.example\.test \(http-01\): unauthorized: .* — .*\/www is 0700: a web server running as another user cannot enter it/);
      expect(line).not.toContain("points at this host");
      // Printed once: not also in the progress lines before it.
      const detail = line!.slice("edgecert: ".length, line!.indexOf(" — "));
      expect((closed.stderr + closed.stdout).split(detail).length - 1, show(closed)).toBe(1);
    } finally {
      await web.close();
      await rm(base, { recursive: true, force: true });
    }
  });

  it("one certificate name per name set: issue --cert-name B for A's names is refused before any request; revoking A removes a B an older edgecert made to share A's key", async () => {
    const dir = join(bed.dir, "lineages");
    const a = await runCli(bed, "node", ["issue", "-d", "lineage.example.test", "--cert-name", "site-a", "--agree-tos", ...http(), ...common(dir), "--json"]);
    expect(a.code, show(a)).toBe(0);
    const b = await runCli(bed, "node", ["issue", "-d", "lineage.example.test", "--cert-name", "site-b", "--agree-tos", "--webroot", join(bed.dir, "other-root"), ...common(dir)]);
    expect(b.code, show(b)).toBe(2);
    expect(b.requests).toBe(0);
    expect(b.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^edgecert: certificate site-a \(.*live\/site-a\) already holds lineage\.example\.test: .* share its private key .* --cert-name site-a/)]);
    await expect(lstat(join(dir, "live", "site-b"))).rejects.toThrow();

    // What an older edgecert left: a second lineage on the same name set, serving A's certificate and key.
    const storage = new FileStorage({ dir: join(dir, "storage") });
    const stored = JSON.parse(new TextDecoder().decode((await storage.get("cli/certificates/site-a.json"))!)) as Record<string, unknown>;
    await storage.put("cli/certificates/site-b.json", JSON.stringify({ ...stored, name: "site-b" }));
    const legacy = await runCli(bed, "node", ["renew", "--cert-name", "site-b", ...common(dir)]);
    expect(legacy.code, show(legacy)).toBe(0);
    expect(await readFile(join(dir, "live", "site-b", "privkey.pem"), "utf8")).toBe(await readFile(join(dir, "live", "site-a", "privkey.pem"), "utf8"));

    const revoke = await runCli(bed, "node", ["revoke", "--cert-name", "site-a", ...common(dir), "--json"]);
    expect(revoke.code, show(revoke)).toBe(0);
    expect(revoke.json).toMatchObject({ revoked: true, alsoRemoved: ["site-b"] });
    // Nothing serves the revoked certificate any more, and list has nothing half-there to show.
    await expect(lstat(join(dir, "live", "site-a"))).rejects.toThrow();
    await expect(lstat(join(dir, "live", "site-b"))).rejects.toThrow();
    const list = await runCli(bed, "node", ["list", ...common(dir)]);
    expect(list.stdout).not.toContain("no certificate stored");
    expect(list.stdout).toMatch(/^No certificates in /);
  });

  it("a busy --http port is refused before any request to the CA, in one line; in renew too, printed once", async () => {
    const holder = createNetServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", () => resolve()));
    const port = (holder.address() as { port: number }).port;
    try {
      const dir = join(bed.dir, "busy");
      const run = await runCli(bed, "node", ["issue", "-d", "busy.example.test", "--agree-tos", "--http", "--http-port", String(port), "--http-address", "127.0.0.1", ...common(dir)]);
      expect(run.code, show(run)).toBe(1);
      expect(run.requests).toBe(0);
      const errors = run.stderr.split("\n").filter((l) => l.startsWith("edgecert: "));
      expect(errors).toEqual([`edgecert: --http could not listen on 127.0.0.1:${port}: another server holds 127.0.0.1:${port} (stop it, or use --webroot / --dns-exec)`]);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }

    // renew: the port taken after issue (nginx started on it): nothing sent, the failure once in the summary.
    const dir = join(bed.dir, "busy-renew");
    const issued = await runCli(bed, "node", ["issue", "-d", "busy-renew.example.test", "--agree-tos", ...http(), ...common(dir)]);
    expect(issued.code, show(issued)).toBe(0);
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(bed.pebble.httpPort, "127.0.0.1", () => resolve()));
    try {
      const renew = await runCli(bed, "node", ["renew", "--force", ...common(dir)]);
      expect(renew.code, show(renew)).toBe(1);
      expect(renew.requests).toBe(0);
      const what = `--http could not listen on 127.0.0.1:${bed.pebble.httpPort}`;
      expect(renew.stdout).toContain(`busy-renew.example.test: FAILED ${what}`);
      expect((renew.stdout + renew.stderr).split(what).length - 1, show(renew)).toBe(1);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it("an untrusted CA names --ca-file, in issue and account alike; a --ca-file holding another CA says so", async () => {
    const dir = join(bed.dir, "trust");
    const flags = ["--dir", dir, "--server", bed.proxy.directoryUrl];
    const none = await runCli(bed, "node", ["issue", "-d", "trust.example.test", "--agree-tos", ...http(), ...flags]);
    expect(none.code, show(none)).toBe(1);
    expect(none.stderr).toMatch(/the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(\w+\) — for a private or test CA, pass --ca-file/);
    expect(none.stderr).not.toContain("NODE_EXTRA_CA_CERTS");
    const wrong = await runCli(bed, "node", ["issue", "-d", "trust.example.test", "--agree-tos", ...http(), ...flags, "--ca-file", bed.pebbleCaFile]);
    expect(wrong.code, show(wrong)).toBe(1);
    expect(wrong.stderr).toContain(`even with --ca-file ${bed.pebbleCaFile}: that file does not hold the root`);
    // An account operation on a stored account: the same advice.
    const ok = await runCli(bed, "node", ["issue", "-d", "trust.example.test", "--agree-tos", ...http(), ...flags, "--ca-file", bed.caFile]);
    expect(ok.code, show(ok)).toBe(0);
    const account = await runCli(bed, "node", ["account", ...flags]);
    expect(account.code, show(account)).toBe(1);
    expect(account.stderr).toMatch(/not trusted .* pass --ca-file/);
    const accountWrong = await runCli(bed, "node", ["account", ...flags, "--ca-file", bed.pebbleCaFile]);
    expect(accountWrong.stderr).toContain(`even with --ca-file ${bed.pebbleCaFile}`);
  });

  it("one default CA everywhere, stated: the CLI's --server, the samples and the Worker's wrangler.toml are all Let's Encrypt production", async () => {
    expect(resolveServer(undefined, {})).toBe(DEFAULT_DIRECTORY_URL);
    expect(DEFAULT_DIRECTORY_URL).toBe(LETS_ENCRYPT_PRODUCTION);
    const help = await runCli(bed, "node", ["issue", "--help"]);
    expect(help.stdout).toMatch(/--server NAME\|URL {2}the CA: letsencrypt \(the default: Let's Encrypt production/);
    // The refusal to create an account without --agree-tos names the CA and that it is the default.
    expect(describeServer(DEFAULT_DIRECTORY_URL)).toBe(`${LETS_ENCRYPT_PRODUCTION} (Let's Encrypt production, the default --server; --server letsencrypt-staging while testing)`);
    const wrangler = await readFile(join(root, "wrangler.toml"), "utf8");
    expect(/^ACME_DIRECTORY_URL = "(.*)"$/m.exec(wrangler)?.[1]).toBe(DEFAULT_DIRECTORY_URL);
    for (const sample of ["worker.ts", "node.ts", "deno.ts", "bun.ts"]) {
      const text = await readFile(join(root, "examples", sample), "utf8");
      expect(text, sample).toMatch(/ACME_DIRECTORY_URL \?\? DEFAULT_DIRECTORY_URL/);
      expect(text, sample).not.toContain("LETS_ENCRYPT_STAGING");
    }
  });

  it("a CA that does not implement key change (501, as Smallstep's CA behind Caddy answers): asked once, not retried, and the message is about the account, not a name", async () => {
    const dir = join(bed.dir, "keychange");
    const flags = [...common(dir), "--email", "keys@example.test"];
    const issue = await runCli(bed, "node", ["issue", "-d", "keychange.example.test", "--agree-tos", ...http(), ...flags]);
    expect(issue.code, show(issue)).toBe(0);
    // What step-ca sends for an operation it lacks: 501 with type rejectedIdentifier (its NotImplemented).
    const problem = { type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "this API is not implemented", status: 501 };
    bed.proxy.addRule({ method: "POST", path: "/rollover-account-key", times: Infinity, fault: { kind: "respond", status: 501, body: JSON.stringify(problem), headers: { "content-type": "application/problem+json" } } });
    try {
      const before = bed.proxy.requests.length;
      const run = await runCli(bed, "node", ["account", "rollover", ...flags]);
      const sent = bed.proxy.requests.slice(before);
      expect(run.code, show(run)).toBe(1);
      // RFC 9110 §15.6.2: 501 is the server saying it does not support this; asking again cannot help.
      expect(sent.filter((r) => r.path.startsWith("/rollover-account-key"))).toHaveLength(1);
      const lines = run.stderr.trim().split("\n");
      expect(lines).toEqual([expect.stringMatching(/^edgecert: the CA refused: rejectedIdentifier: this API is not implemented — this CA does not implement this operation \(HTTP 501 Not Implemented\)/)]);
      expect(run.stderr).not.toContain("spelling");
      console.log(`[cli-server] account rollover against a 501 key change: ${sent.length} requests (${sent.map((r) => `${r.method} ${r.path.split("/")[1]}`).join(", ")})`);
    } finally {
      bed.proxy.clearRules();
      bed.ariWindow(new Date(Date.now() + 300 * 86_400_000), new Date(Date.now() + 302 * 86_400_000));
    }
  });

  it("account caa prints the CAA record that pins this CA and account (issue 26), and says what to give when the CA names no CAA identity", async () => {
    const dir = join(bed.dir, "caa");
    const flags = [...common(dir), "--email", "caa@example.test"];
    const issue = await runCli(bed, "node", ["issue", "-d", "caa.example.test", "--agree-tos", ...http(), ...flags]);
    expect(issue.code, show(issue)).toBe(0);
    const shown = await runCli(bed, "node", ["account", ...flags, "--json"]);
    expect(shown.code, show(shown)).toBe(0);
    const url = (JSON.parse(shown.stdout) as { url: string }).url;
    // Pebble's directory has no meta.caaIdentities: the refusal names the flag.
    const bare = await runCli(bed, "node", ["account", "caa", "example.com", ...flags]);
    expect(bare.code, show(bare)).toBe(2);
    expect(bare.stderr).toContain("--caa-identity");
    const pinned = await runCli(bed, "node", ["account", "caa", "example.com", "--caa-identity", "pebble.test", ...flags]);
    expect(pinned.code, show(pinned)).toBe(0);
    expect(pinned.stdout.trim()).toBe(`example.com. CAA 0 issue "pebble.test; accounturi=${url}"`);
    const wild = await runCli(bed, "node", ["account", "caa", "*.example.com", "--wildcard", "--caa-identity", "pebble.test", ...flags]);
    expect(wild.stdout.trim()).toBe(`example.com. CAA 0 issuewild "pebble.test; accounturi=${url}"`);
  });

  it("--self-check answers no http-01 challenge the name does not serve through its public path: the issue fails naming the self-check, the CA validates nothing (issue 26)", async () => {
    const dir = join(bed.dir, "self-check");
    // The name resolves nowhere from here (.test), as a name whose DNS points elsewhere would serve nothing of ours.
    const run = await runCli(bed, "node", ["issue", "-d", "self-check-miss.example.test", "--agree-tos", ...http(), "--self-check", ...common(dir), "--email", "self-check@example.test"]);
    expect(run.code, show(run)).not.toBe(0);
    expect(run.stderr).toContain("self-check");
    expect(run.stderr).toContain("http://self-check-miss.example.test/.well-known/acme-challenge/");
    const sent = bed.proxy.requests.slice(bed.proxy.requests.length - run.requests);
    expect(sent.filter((r) => r.method === "POST" && r.path.startsWith("/order-plz"))).toHaveLength(1);
    // No challenge answered: the CA never tried to validate (nor counted a failed validation).
    expect(sent.filter((r) => r.method === "POST" && r.path.startsWith("/chalZ/") && r.payload !== undefined)).toEqual([]);
    // It checks http-01 only.
    const alone = await runCli(bed, "node", ["issue", "-d", "self-check-dns.example.test", "--agree-tos", "--dns-exec", "true", "--self-check", ...common(dir)]);
    expect(alone.code, show(alone)).toBe(2);
    expect(alone.stderr).toContain("--self-check checks http-01");
    expect(alone.requests).toBe(0);
  });
});
