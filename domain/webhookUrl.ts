import { BlockList, isIP } from 'node:net';

/**
 * What makes a URL unfit for deliveries, whatever it resolves to: only http and https, no user name or
 * password in it (they would be sent to whoever answers), a host.
 */
export function webhookUrlProblem(url: URL): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  if (url.hostname === '') return 'must name a host';
  return undefined;
}

/**
 * Ports of other protocols (the Fetch standard's "bad ports": SMTP, SSH, IRC, DNS ...). A webhook is an HTTP
 * POST whose body the endpoint's owner partly writes (customer ids, descriptions): sent to a mail or chat
 * server it could be read as that protocol's commands, with Settle as the sender.
 */
const BLOCKED_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115,
  117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587,
  601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669,
  6679, 6697, 10080,
]);

export function blockedPort(port: number): boolean {
  return BLOCKED_PORTS.has(port);
}

/** `localhost` and every name under it are loopback whatever DNS says (RFC 6761); a trailing dot changes nothing. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * What makes a URL's destination unfit when private networks are not allowed, before any DNS answer: a port
 * of another protocol, a localhost name, an address written in the URL that is not public. A name is then
 * still to be checked at each connection, against the addresses it resolves to.
 */
export function webhookDestinationProblem(url: URL): string | undefined {
  const port = url.port === '' ? undefined : Number(url.port);
  if (port !== undefined && blockedPort(port)) return `port ${port} is another protocol's; webhooks are not sent to it`;
  if (isLocalhostName(url.hostname)) return `${url.hostname} ${PRIVATE_ADDRESS_REFUSED}`;
  const address = literalAddress(url);
  if (address !== undefined && isPrivateAddress(address)) return `${address} ${PRIVATE_ADDRESS_REFUSED}`;
  return undefined;
}

/** The URL's host as an IP address, when it is one (`[::1]` -> `::1`); undefined for a name. */
export function literalAddress(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) === 0 ? undefined : host;
}

/**
 * Addresses a webhook must never reach unless private networks are allowed (development): loopback, the
 * private ranges, link-local (cloud metadata services answer at 169.254.169.254), shared address space,
 * unspecified, multicast and reserved ranges. Deliveries act on the address actually connected, so a name
 * that resolves somewhere harmless when the endpoint is created cannot later point Settle at these.
 */
const privateRanges = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv6');
}

/**
 * An IPv4 address carried inside an IPv6 one: mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, translated
 * ::ffff:0:a.b.c.d (SIIT), NAT64 64:ff9b::/96, 6to4 2002::/16.
 */
function embeddedIpv4(address: string): string | undefined {
  const groups = expandIpv6(address);
  if (!groups) return undefined;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((group) => group === 0);
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  if (zeros(0, 5) && (groups[5] === 0xffff || groups[5] === 0) && !zeros(6, 8)) return v4(groups[6]!, groups[7]!);
  if (zeros(0, 4) && groups[4] === 0xffff && groups[5] === 0) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part included). */
function expandIpv6(address: string): number[] | undefined {
  let text = address.toLowerCase().split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 && groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff) ? groups : undefined;
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return privateRanges.check(address, 'ipv4');
  if (family !== 6) return true; // not an address: never connect to it
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined && privateRanges.check(v4, 'ipv4')) return true;
  return privateRanges.check(address, 'ipv6');
}

export const PRIVATE_ADDRESS_REFUSED =
  'points at a loopback, private, link-local or otherwise non-public address; webhooks are delivered to public addresses only';
