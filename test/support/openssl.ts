import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Runs `openssl` with `files` written to a temp dir (named by key); `{dir}` in args is replaced by it. */
export async function openssl(args: string[], files: Record<string, string | Uint8Array> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "edgecert-openssl-"));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    return await new Promise<string>((resolve, reject) => {
      execFile("openssl", args.map((a) => a.replaceAll("{dir}", dir)), { timeout: 10_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`openssl ${args.join(" ")} failed: ${stderr || err.message}`));
        else resolve(stdout + stderr);
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
