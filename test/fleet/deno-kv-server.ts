// Runs under the real deno binary (`deno run --unstable-kv`): opens Deno KV at a local SQLite path and
// serves a DenoKvStorage's methods as JSON RPC on 127.0.0.1 (port printed as {"port": N}), so vitest can
// run the storage suites against the storage as it runs in Deno. Driven by test/support/remote-storage.ts.
import { DenoKvStorage } from "../../src/storage/deno-kv/deno-kv-storage.ts";
import type { Lease } from "../../src/storage/storage.ts";
import { base64Decode, base64Encode } from "../../src/webcrypto/base64url.ts";
import { isEdgecertError } from "../../src/errors.ts";

declare const Deno: {
  args: string[];
  openKv(path: string): Promise<unknown>;
  serve(options: { hostname: string; port: number; onListen(addr: { port: number }): void }, handler: (req: Request) => Promise<Response>): unknown;
};

const [path, prefix] = Deno.args;
const kv = await Deno.openKv(path!);
const storage = new DenoKvStorage({ kv: kv as never, prefix: prefix ?? "edgecert" });
const leases = new Map<string, Lease>();

async function call(op: string, a: any[]): Promise<unknown> {
  switch (op) {
    case "get": {
      const v = await storage.get(a[0]);
      return v === undefined ? null : base64Encode(v);
    }
    case "getEntry": {
      const e = await storage.getEntry(a[0]);
      return e === undefined ? null : { value: base64Encode(e.value), version: e.version };
    }
    case "put":
      return await storage.put(a[0], typeof a[1] === "string" ? a[1] : base64Decode(a[1].b64), a[2] ?? undefined);
    case "delete":
      return await storage.delete(a[0], a[1] ?? undefined);
    case "list":
      return await storage.list(a[0], a[1] ?? undefined);
    case "lock": {
      const lease = await storage.lock(a[0], a[1] ?? undefined);
      const id = crypto.randomUUID();
      leases.set(id, lease);
      return { id, name: lease.name, token: lease.token, expiresAt: lease.expiresAt };
    }
    case "renew": {
      const lease = leases.get(a[0])!;
      await lease.renew(a[1] ?? undefined);
      return { expiresAt: lease.expiresAt };
    }
    case "release":
      await leases.get(a[0])!.release();
      return null;
    case "setDue":
      return await storage.setDue(a[0], a[1], a[2] ?? undefined);
    case "clearDue":
      return await storage.clearDue(a[0], a[1] ?? undefined);
    case "due":
      return await storage.due(a[0], a[1]);
    default:
      throw new Error(`unknown op ${op}`);
  }
}

Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(JSON.stringify({ port })) }, async (req) => {
  const { op, args } = JSON.parse(await req.text(), (_k, v) => (v && typeof v === "object" && typeof v.$number === "string" ? Number(v.$number) : v));
  try {
    return Response.json({ ok: (await call(op, args)) ?? null });
  } catch (error) {
    const code = isEdgecertError(error) ? error.code : "crash";
    return Response.json({ error: { code, message: String((error as Error)?.message ?? error) } });
  }
});
