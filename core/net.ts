/**
 * Socket and endpoint keys of the model, read into the names AppArmor and the rule catalogue use.
 * Collectors may spell a socket `inet/stream/tcp`, `AF_INET/SOCK_STREAM/IPPROTO_TCP` or `2/1/6`;
 * all read the same.
 */

export interface SocketKind {
  /** AppArmor's family name (`inet`, `unix`, ...) or the key's own text when unknown. */
  domain: string;
  type: string;
  protocol: string;
}

/** Address families by the name AppArmor gives them, with their AF_* number (linux/socket.h). */
export const FAMILY_NUMBERS: Readonly<Record<string, number>> = {
  unix: 1, inet: 2, ax25: 3, ipx: 4, appletalk: 5, netrom: 6, bridge: 7, atmpvc: 8, x25: 9, inet6: 10, rose: 11, decnet: 12, netbeui: 13, security: 14, key: 15,
  netlink: 16, packet: 17, ash: 18, econet: 19, atmsvc: 20, rds: 21, sna: 22, irda: 23, pppox: 24, wanpipe: 25, llc: 26, ib: 27, mpls: 28, can: 29, tipc: 30,
  bluetooth: 31, iucv: 32, rxrpc: 33, isdn: 34, phonet: 35, ieee802154: 36, caif: 37, alg: 38, nfc: 39, vsock: 40, kcm: 41, qipcrtr: 42, smc: 43, xdp: 44, mctp: 45,
};
const DOMAIN_NUMBERS: Record<string, string> = Object.fromEntries(Object.entries(FAMILY_NUMBERS).map(([n, v]) => [String(v), n]));
const TYPE_NUMBERS: Record<string, string> = { '1': 'stream', '2': 'dgram', '3': 'raw', '4': 'rdm', '5': 'seqpacket', '10': 'packet' };
const PROTOCOL_NUMBERS: Record<string, string> = { '1': 'icmp', '6': 'tcp', '17': 'udp', '58': 'icmpv6', '132': 'sctp', '255': 'raw' };

/** Address families apparmor_parser knows by name. */
export const APPARMOR_DOMAINS: ReadonlySet<string> = new Set(
  'unix inet ax25 ipx appletalk netrom bridge atmpvc x25 inet6 rose netbeui security key netlink packet ash econet atmsvc rds sna irda pppox wanpipe llc ib mpls can tipc bluetooth iucv rxrpc isdn phonet ieee802154 caif alg nfc vsock kcm qipcrtr smc xdp mctp'.split(' '),
);
export const APPARMOR_TYPES: ReadonlySet<string> = new Set(['stream', 'dgram', 'seqpacket', 'rdm', 'raw', 'packet']);

function name(text: string, numbers: Record<string, string>, prefix: RegExp): string {
  const t = text.trim().toLowerCase().replace(prefix, '');
  return numbers[t] ?? (t === 'local' ? 'unix' : t);
}

/**
 * Whether text is an IP address literal (dotted IPv4, or IPv6 hex groups): an address read back
 * from the store goes into API queries and CIDRs only if it is one.
 */
export function isIpAddress(text: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255);
  return /^[0-9a-f:]*(:\d{1,3}(\.\d{1,3}){3})?$/i.test(text) && (text.match(/:/g) ?? []).length >= 2 && text.length <= 45;
}

/** A loopback address: traffic to it never leaves the pod. */
export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}

/** An IP protocol number as the model names it (`6` → `tcp`), or the number. */
export function protocolName(n: number): string {
  return PROTOCOL_NUMBERS[String(n)] ?? String(n);
}

/** A socket kind's protocol as its number: `tcp` → 6, `9` → 9; undefined for a name not known. */
export function protocolNumber(protocol: string): number | undefined {
  if (/^\d+$/.test(protocol)) return Number(protocol);
  const n = Object.entries(PROTOCOL_NUMBERS).find(([, name]) => name === protocol)?.[0];
  return n === undefined ? undefined : Number(n);
}

export function socketKind(key: string): SocketKind {
  const [domain = '', type = '', protocol = ''] = key.split('/');
  const kind = {
    domain: name(domain, DOMAIN_NUMBERS, /^(af|pf)_/),
    type: name(type, TYPE_NUMBERS, /^sock_/),
    protocol: name(protocol, PROTOCOL_NUMBERS, /^ipproto_/),
  };
  // Protocol 0 is the family's default for the type.
  if ((kind.protocol === '0' || kind.protocol === '') && (kind.domain === 'inet' || kind.domain === 'inet6')) {
    kind.protocol = kind.type === 'stream' ? 'tcp' : kind.type === 'dgram' ? 'udp' : kind.protocol;
  }
  return kind;
}

export interface Endpoint {
  family: string;
  address: string;
  port: number;
}

/** `egresses` / `binds` keys: `${family}|${address}|${port}`. */
export function endpoint(key: string): Endpoint {
  const [family = '', address = '', port = '0'] = key.split('|');
  return { family: name(family, DOMAIN_NUMBERS, /^(af|pf)_/), address, port: Number(port) };
}
