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

const DOMAIN_NUMBERS: Record<string, string> = { '1': 'unix', '2': 'inet', '10': 'inet6', '16': 'netlink', '17': 'packet', '38': 'alg', '40': 'vsock', '44': 'xdp' };
const TYPE_NUMBERS: Record<string, string> = { '1': 'stream', '2': 'dgram', '3': 'raw', '4': 'rdm', '5': 'seqpacket', '10': 'packet' };
const PROTOCOL_NUMBERS: Record<string, string> = { '1': 'icmp', '6': 'tcp', '17': 'udp', '58': 'icmpv6', '255': 'raw' };

/** Address families apparmor_parser knows by name. */
export const APPARMOR_DOMAINS: ReadonlySet<string> = new Set(
  'unix inet ax25 ipx appletalk netrom bridge atmpvc x25 inet6 rose netbeui security key netlink packet ash econet atmsvc rds sna irda pppox wanpipe llc ib mpls can tipc bluetooth iucv rxrpc isdn phonet ieee802154 caif alg nfc vsock kcm qipcrtr smc xdp mctp'.split(' '),
);
export const APPARMOR_TYPES: ReadonlySet<string> = new Set(['stream', 'dgram', 'seqpacket', 'rdm', 'raw', 'packet']);

function name(text: string, numbers: Record<string, string>, prefix: RegExp): string {
  const t = text.trim().toLowerCase().replace(prefix, '');
  return numbers[t] ?? (t === 'local' ? 'unix' : t);
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
