import { chmod, lstat, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openssl } from "../support/openssl.ts";
import { bedFlags, httpFlags, runCli, show, startCliBed, type CliBed } from "./cli-bed.ts";

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
});
