import { isIP } from 'node:net';

/**
 * Which addresses a webhook may reach (CONTRACT §8). By default only globally routable unicast addresses:
 * a subscription must not turn the engine into a proxy into its own network (CWE-918, SSRF). The operator
 * opens private networks with WEBHOOK_ALLOW_PRIVATE=true, or names hosts, addresses and ranges in
 * WEBHOOK_ALLOWED_HOSTS.
 */

interface V4Range {
  base: number;
  bits: number;
  reason: string;
}

const v4 = (cidr: string, reason: string): V4Range => {
  const [addr, bits] = cidr.split('/');
  return { base: ipv4ToInt(addr) as number, bits: Number(bits), reason };
};

/** IANA IPv4 special-purpose registry, every block that is not globally reachable, plus multicast. */
const V4_NOT_PUBLIC: V4Range[] = [
  v4('0.0.0.0/8', 'this network'),
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'shared address space (CGNAT)'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'IETF protocol assignments'),
  v4('192.0.2.0/24', 'documentation'),
  v4('192.88.99.0/24', '6to4 relay anycast'),
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'benchmarking'),
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'),
];

/**
 * Instance metadata services hand out cloud credentials. No receiver lives there, so they stay refused even
 * under WEBHOOK_ALLOW_PRIVATE=true; only an explicit address in WEBHOOK_ALLOWED_HOSTS opens one.
 */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean…
  '169.254.170.2', // AWS ECS task metadata
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS IMDS over IPv6
]);

interface V6Range {
  base: bigint;
  bits: number;
  reason: string;
}

const v6 = (cidr: string, reason: string): V6Range => {
  const [addr, bits] = cidr.split('/');
  return { base: ipv6ToBigInt(addr) as bigint, bits: Number(bits), reason };
};

/** Inside 2000::/3 (the only global unicast space), the blocks that are not globally reachable. */
const V6_NOT_PUBLIC_IN_GLOBAL: V6Range[] = [
  v6('2001::/23', 'IETF protocol assignments'),
  v6('2001:db8::/32', 'documentation'),
  v6('3fff::/20', 'documentation'),
];

const V6_GLOBAL_UNICAST = v6('2000::/3', 'global unicast');
const V6_MAPPED = v6('::ffff:0:0/96', 'IPv4-mapped');
const V6_TRANSLATED = v6('::ffff:0:0:0/96', 'IPv4-translated');
const V6_NAT64 = v6('64:ff9b::/96', 'NAT64');
const V6_6TO4 = v6('2002::/16', '6to4');

/** Why an address is not a public destination, or null when it is one. */
export function nonPublicReason(address: string): string | null {
  const ip = stripBrackets(address);
  const kind = isIP(ip.split('%')[0]);
  if (kind === 4) return v4Reason(ipv4ToInt(ip) as number);
  if (kind !== 6) return 'not an IP address';
  const n = ipv6ToBigInt(ip.split('%')[0]);
  if (n === null) return 'not an IP address';
  if (n === 0n) return 'unspecified';
  if (n === 1n) return 'loopback';
  // Addresses that carry an IPv4 address reach that address: judge the IPv4 one.
  const embedded = embeddedIPv4(n);
  if (embedded !== null) return v4Reason(embedded);
  if (!inV6(n, V6_GLOBAL_UNICAST)) return v6ScopeReason(n);
  for (const r of V6_NOT_PUBLIC_IN_GLOBAL) if (inV6(n, r)) return r.reason;
  return null;
}

/** The IPv4 address an IPv6 one stands for (mapped, translated, NAT64 well-known prefix, 6to4), if any. */
export function embeddedIPv4(n: bigint): number | null {
  if (inV6(n, V6_MAPPED) || inV6(n, V6_TRANSLATED) || inV6(n, V6_NAT64)) return Number(n & 0xffffffffn);
  if (inV6(n, V6_6TO4)) return Number((n >> 80n) & 0xffffffffn);
  return null;
}

/** The canonical text of an address (IPv4 dotted quad; IPv6 expanded, lower case), for comparisons. */
export function canonicalAddress(address: string): string | null {
  const ip = stripBrackets(address).split('%')[0];
  const kind = isIP(ip);
  if (kind === 4) return ip;
  if (kind !== 6) return null;
  const n = ipv6ToBigInt(ip);
  if (n === null) return null;
  const mapped = inV6(n, V6_MAPPED) ? intToIpv4(Number(n & 0xffffffffn)) : null;
  if (mapped) return mapped;
  return ipv6Text(n);
}

/** RFC 5952 text: lower case, leading zeros dropped, the longest run of two or more zero groups as `::`. */
function ipv6Text(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best.at < 0) return hex(groups);
  return `${hex(groups.slice(0, best.at))}::${hex(groups.slice(best.at + best.len))}`;
}

export interface DestinationPolicyOptions {
  allowPrivate: boolean;
  /** Host names (`hooks.corp.example`, `*.corp.example`), addresses or CIDR ranges. */
  allowedHosts: readonly string[];
}

/** The decision for one (host name, address) pair, made at connect time and, for literals, at subscription. */
export class DestinationPolicy {
  private readonly hostNames = new Set<string>();
  private readonly hostSuffixes: string[] = [];
  private readonly v4Ranges: V4Range[] = [];
  private readonly v6Ranges: V6Range[] = [];

  constructor(private readonly options: DestinationPolicyOptions) {
    for (const raw of options.allowedHosts) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      const [addr, bits] = entry.split('/');
      const ip = stripBrackets(addr);
      if (isIP(ip) === 4) {
        this.v4Ranges.push({ base: ipv4ToInt(ip) as number, bits: bits ? Number(bits) : 32, reason: raw });
      } else if (isIP(ip) === 6) {
        const n = ipv6ToBigInt(ip) as bigint;
        const embedded = inV6(n, V6_MAPPED) ? Number(n & 0xffffffffn) : null;
        if (embedded !== null)
          this.v4Ranges.push({
            base: embedded,
            bits: bits ? Math.max(0, Number(bits) - 96) : 32,
            reason: raw,
          });
        else this.v6Ranges.push({ base: n, bits: bits ? Number(bits) : 128, reason: raw });
      } else if (entry.startsWith('*.')) {
        this.hostSuffixes.push(normaliseHostName(entry.slice(1)));
      } else {
        this.hostNames.add(normaliseHostName(entry));
      }
    }
  }

  /** Why connecting to `address` for `hostName` is refused, or null when it is allowed. */
  refusal(hostName: string, address: string): string | null {
    if (this.addressListed(address)) return null;
    const canonical = canonicalAddress(address);
    if (canonical === null) return `${address} is not an IP address`;
    const embedded = isIP(canonical) === 6 ? embeddedIPv4(ipv6ToBigInt(canonical) as bigint) : null;
    if (
      METADATA_ADDRESSES.has(canonical) ||
      (embedded !== null && METADATA_ADDRESSES.has(intToIpv4(embedded)))
    )
      return `${canonical} is a cloud metadata address`;
    const reason = nonPublicReason(address);
    if (reason === null) return null;
    if (this.options.allowPrivate || this.hostListed(hostName)) return null;
    return `${canonical} is ${reason}`;
  }

  /**
   * The check at subscription time, on the URL alone (no DNS: a name may resolve elsewhere later, which is
   * why the connect-time check is the real guard). Refuses IP literals and `localhost` names that are not
   * allowed.
   */
  urlRefusal(url: URL): string | null {
    const host = normaliseHostName(url.hostname);
    if (isIP(host)) return this.refusal(host, host);
    if ((host === 'localhost' || host.endsWith('.localhost')) && !this.options.allowPrivate) {
      return this.hostListed(host) ? null : `${host} is loopback`;
    }
    return null;
  }

  private hostListed(hostName: string): boolean {
    const host = normaliseHostName(hostName);
    return this.hostNames.has(host) || this.hostSuffixes.some((s) => host.endsWith(s));
  }

  private addressListed(address: string): boolean {
    const canonical = canonicalAddress(address);
    if (canonical === null) return false;
    if (isIP(canonical) === 4) {
      const n = ipv4ToInt(canonical) as number;
      return this.v4Ranges.some((r) => inV4(n, r));
    }
    const n = ipv6ToBigInt(canonical) as bigint;
    return this.v6Ranges.some((r) => inV6(n, r));
  }
}

export function normaliseHostName(host: string): string {
  return stripBrackets(host).toLowerCase().replace(/\.$/, '');
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function v4Reason(n: number): string | null {
  for (const r of V4_NOT_PUBLIC) if (inV4(n, r)) return r.reason;
  return null;
}

function v6ScopeReason(n: bigint): string {
  const top16 = Number(n >> 112n);
  if ((top16 & 0xfe00) === 0xfc00) return 'unique-local';
  if ((top16 & 0xffc0) === 0xfe80) return 'link-local';
  if ((top16 & 0xffc0) === 0xfec0) return 'site-local';
  if ((top16 & 0xff00) === 0xff00) return 'multicast';
  return 'reserved';
}

function inV4(n: number, r: V4Range): boolean {
  if (r.bits === 0) return true;
  const mask = (0xffffffff << (32 - r.bits)) >>> 0;
  return (n & mask) >>> 0 === (r.base & mask) >>> 0;
}

function inV6(n: bigint, r: V6Range): boolean {
  const shift = BigInt(128 - r.bits);
  return n >> shift === r.base >> shift;
}

function ipv4ToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv6 address (with `::` and a trailing dotted quad) into its 128-bit value. */
export function ipv6ToBigInt(ip: string): bigint | null {
  let text = ip.toLowerCase();
  const groups: number[] = [];
  const dotted = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  let tail: number[] = [];
  if (dotted) {
    const v4n = ipv4ToInt(dotted[1]);
    if (v4n === null) return null;
    tail = [v4n >>> 16, v4n & 0xffff];
    text = text.slice(0, -dotted[1].length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string) =>
    s === '' ? [] : s.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const explicit = head.length + rest.length + tail.length;
  if ([...head, ...rest].some(Number.isNaN)) return null;
  if (halves.length === 1 && explicit !== 8) return null;
  if (halves.length === 2 && explicit > 7) return null;
  groups.push(...head, ...new Array(8 - explicit).fill(0), ...rest, ...tail);
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}
