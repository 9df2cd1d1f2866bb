/**
 * Which webhook URLs the Worker may POST to. By default only `https:` to a public address: a URL on
 * loopback, a private or link-local range (169.254.169.254 is where cloud metadata services answer)
 * or another special-purpose block (RFC 6890) would let whoever holds the admin token make the Worker
 * probe the network it runs in, and read the answers in the delivery log. `WEBHOOK_ALLOW_PRIVATE_URLS
 * = "true"` lifts both rules, for local development and tests with a receiver on this machine.
 *
 * Host names are judged by their form only (a Worker cannot resolve them first): single-label names
 * and the reserved local suffixes are refused; a public name that resolves to a private address is
 * not caught here (on Cloudflare, Workers' fetch does not reach private networks).
 * @module
 */

/** IPv4 blocks that are not the public Internet (RFC 6890 and its updates), as [first octets, prefix length]. */
const IPV4_BLOCKS: ReadonlyArray<readonly [number, number, number, number, number]> = [
  [0, 0, 0, 0, 8], // "this network"
  [10, 0, 0, 0, 8], // private (RFC 1918)
  [100, 64, 0, 0, 10], // shared address space (RFC 6598)
  [127, 0, 0, 0, 8], // loopback
  [169, 254, 0, 0, 16], // link-local (RFC 3927): cloud metadata services
  [172, 16, 0, 0, 12], // private
  [192, 0, 0, 0, 24], // IETF protocol assignments
  [192, 0, 2, 0, 24], // documentation
  [192, 88, 99, 0, 24], // 6to4 relay anycast (deprecated)
  [192, 168, 0, 0, 16], // private
  [198, 18, 0, 0, 15], // benchmarking
  [198, 51, 100, 0, 24], // documentation
  [203, 0, 113, 0, 24], // documentation
  [224, 0, 0, 0, 4], // multicast
  [240, 0, 0, 0, 4], // reserved, broadcast
];

const LOCAL_SUFFIXES = [".localhost", ".local", ".internal", ".home.arpa", ".lan", ".test", ".invalid", ".example"];

function ipv4Number(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function isPublicIpv4(n: number): boolean {
  return !IPV4_BLOCKS.some(([a, b, c, d, bits]) => {
    const base = ((a * 256 + b) * 256 + c) * 256 + d;
    const size = 2 ** (32 - bits);
    return n >= base && n < base + size;
  });
}

/** The eight 16-bit groups of an IPv6 address as the URL parser writes it (compressed, no zone). */
function ipv6Groups(text: string): number[] | undefined {
  let head = text;
  let v4: number | undefined;
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    v4 = ipv4Number(dotted[1]!);
    if (v4 === undefined) return undefined;
    head = text.slice(0, -dotted[1]!.length) + "0:0";
  }
  const [left, right, extra] = head.split("::");
  if (extra !== undefined) return undefined;
  const parse = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const l = parse(left);
  const r = parse(right);
  const groups = right === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined;
  if (v4 !== undefined) [groups[6], groups[7]] = [Math.floor(v4 / 65536), v4 % 65536];
  return groups;
}

function isPublicIpv6(g: number[]): boolean {
  const [a, b, , , , f] = g as [number, number, number, number, number, number, number, number];
  const embeddedV4 = g[6]! * 65536 + g[7]!;
  if (g.slice(0, 7).every((x) => x === 0)) return false; // :: and ::1
  if (g.slice(0, 5).every((x) => x === 0) && f === 0xffff) return isPublicIpv4(embeddedV4); // IPv4-mapped
  if (a === 0x64 && b === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isPublicIpv4(embeddedV4); // NAT64 (RFC 6052)
  if ((a & 0xfe00) === 0xfc00) return false; // unique local (RFC 4193)
  if ((a & 0xffc0) === 0xfe80) return false; // link-local
  if ((a & 0xff00) === 0xff00) return false; // multicast
  if (a === 0x2001 && b === 0x0db8) return false; // documentation
  if (a === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return false; // discard-only (RFC 6666)
  return true;
}

/**
 * Why `url` may not receive webhooks, or undefined when it may. `allowPrivate`: the
 * WEBHOOK_ALLOW_PRIVATE_URLS setting.
 */
export function webhookUrlProblem(url: URL, allowPrivate: boolean): string | undefined {
  if (allowPrivate) return undefined;
  if (url.protocol !== "https:") return "url must be https:// (set WEBHOOK_ALLOW_PRIVATE_URLS=\"true\" to allow http:// for local development)";
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const why = (what: string) => `url must be a public address: ${host} is ${what} (set WEBHOOK_ALLOW_PRIVATE_URLS="true" to allow it for local development)`;
  if (host.startsWith("[")) {
    const groups = ipv6Groups(host.slice(1, -1));
    return groups && isPublicIpv6(groups) ? undefined : why("a loopback, private, link-local or reserved IPv6 address");
  }
  const v4 = ipv4Number(host);
  if (v4 !== undefined) return isPublicIpv4(v4) ? undefined : why("a loopback, private, link-local or reserved IPv4 address");
  if (!host.includes(".") || host === "localhost" || LOCAL_SUFFIXES.some((s) => host.endsWith(s))) return why("a local name");
  return undefined;
}
