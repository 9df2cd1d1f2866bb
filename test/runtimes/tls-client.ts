/**
 * A TLS/HTTPS client for the runtime tests, on `node:tls` so the same code runs in Node, Deno and Bun
 * (all three implement `getPeerCertificate`). It connects to 127.0.0.1 with an explicit SNI name and
 * verifies the chain against the given roots, like a browser resolving the name to this machine.
 */
import { connect, type TLSSocket } from "node:tls";

/** What a client saw in one handshake. */
export interface HandshakeResult {
  /** Upper-case hex without leading zeros (Node's format). */
  serialNumber: string;
  authorized: boolean;
  alpnProtocol: string | false | null;
  fingerprint256: string;
}

export interface ConnectOptions {
  port: number;
  serverName: string;
  /** Trusted roots (PEM). */
  ca: string | string[];
  alpnProtocols?: string[];
  maxVersion?: "TLSv1.2" | "TLSv1.3";
  /** Verify the chain and name (default true); false still reports `authorized`. */
  verify?: boolean;
}

/** The serial as Node prints it: upper-case hex, no leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/^0+/, "").toUpperCase();
}

function open(options: ConnectOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port: options.port,
      servername: options.serverName,
      ca: options.ca,
      rejectUnauthorized: options.verify ?? true,
      ...(options.alpnProtocols ? { ALPNProtocols: options.alpnProtocols } : {}),
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`handshake with ${options.serverName} timed out`));
    }, 10_000);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function describe(socket: TLSSocket): HandshakeResult {
  const peer = socket.getPeerCertificate();
  return {
    serialNumber: normalizeSerial(peer.serialNumber),
    authorized: socket.authorized,
    alpnProtocol: socket.alpnProtocol,
    fingerprint256: peer.fingerprint256,
  };
}

/** One handshake; the connection is closed afterwards. */
export async function handshake(options: ConnectOptions): Promise<HandshakeResult> {
  const socket = await open(options);
  const result = describe(socket);
  socket.destroy();
  return result;
}

/** One HTTP/1.1 GET over a fresh verified TLS connection: the handshake, the status and the body. */
export async function httpsGet(options: ConnectOptions & { path?: string }): Promise<HandshakeResult & { status: number; body: string }> {
  const socket = await open(options);
  const result = describe(socket);
  const response = await new Promise<string>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("response timed out"));
    }, 10_000);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.once("end", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.write(`GET ${options.path ?? "/"} HTTP/1.1\r\nHost: ${options.serverName}\r\nConnection: close\r\n\r\n`);
  });
  socket.destroy();
  const [head = "", ...rest] = response.split("\r\n\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
  const raw = rest.join("\r\n\r\n");
  return { ...result, status, body: chunked ? unchunk(raw) : raw };
}

function unchunk(raw: string): string {
  let out = "";
  let rest = raw;
  for (let i = 0; i < 1000; i++) {
    const line = rest.indexOf("\r\n");
    if (line < 0) break;
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) break;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
  return out;
}
