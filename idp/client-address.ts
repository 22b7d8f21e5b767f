// Which address a login came from. Throttles, detections and audit records key on it, so a
// client must not be able to choose it: X-Forwarded-For counts only when the peer that sent it
// is a proxy the operator trusts, and only the hops that trusted proxies appended.
import { BlockList } from 'node:net';
import { LanyardError, type CoreErrorCode } from '../lib/errors.ts';
import { normalizeAddress } from '../lib/geo.ts';

const MAX_HEADER = 4096;
const MAX_HOPS = 32;

/** Parses "10.0.0.0/8"-style CIDRs (a bare address means one host); anything else is refused. */
export function parseTrustedProxies(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [network = '', prefixText, extra] = entry.trim().split('/');
    const parsed = normalizeAddress(network);
    const bits = parsed?.family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (!parsed || extra !== undefined || !/^\d{1,3}$/.test(String(prefix)) || prefix > bits) {
      throw new LanyardError<CoreErrorCode>(
        'ERR_CONFIG_INVALID',
        `trusted proxy "${entry}" is not an address or CIDR`,
      );
    }
    list.addSubnet(parsed.address, prefix, parsed.family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** One X-Forwarded-For element: an address, possibly bracketed or with a port. */
function hopAddress(text: string): string | undefined {
  let value = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) value = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  return normalizeAddress(value)?.address;
}

function trusts(list: BlockList, address: string): boolean {
  return list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy, in which case
 * X-Forwarded-For is read right to left past every trusted hop; the first untrusted hop is the
 * client. A malformed hop stops the walk at the last address a trusted proxy vouched for.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: BlockList | undefined,
): string {
  let current = (peer && normalizeAddress(peer)?.address) ?? 'unknown';
  if (!trusted || current === 'unknown' || !trusts(trusted, current) || forwardedFor === undefined) {
    return current;
  }
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  if (header.length > MAX_HEADER) return current;
  const hops = header.split(',').slice(-MAX_HOPS).reverse();
  for (const hop of hops) {
    const address = hopAddress(hop);
    if (!address) break;
    current = address;
    if (!trusts(trusted, current)) break;
  }
  return current;
}
