// The pod's traffic redirect as an `iptables-restore` input: pure, so the exact rule set is
// tested without a kernel. `lanyard init-iptables` parses its flags here and applies the result.
//
// nat table, per address family:
//   PREROUTING -> LANYARD_INBOUND: traffic arriving for the app's ports goes to the inbound proxy,
//     excluded ports (the admin port among them) reach their listener directly.
//   OUTPUT -> LANYARD_OUTPUT: TCP the pod sends goes to the outbound proxy, except the proxy's own
//     traffic, loopback, excluded ports and excluded CIDRs. The one loopback case that is not
//     exempt (as in Istio): the proxy connecting to the pod's own IP leaves through `lo` and
//     never passes PREROUTING, so it is sent through LANYARD_INBOUND here; otherwise a call
//     the outbound proxy makes to its own pod would reach the app's port unchecked.
import { isIPv4, isIPv6 } from 'node:net';
import { LanyardError, type CoreErrorCode } from './errors.ts';

export type AddressFamily = 'ipv4' | 'ipv6';

export interface InterceptOptions {
  /** The sidecar's UID: its own connections are never redirected. */
  proxyUid: number;
  inboundProxyPort: number;
  outboundProxyPort: number;
  /** App ports redirected to the inbound proxy, or '*' for every port not excluded. */
  inboundPorts: readonly number[] | '*';
  excludeInboundPorts: readonly number[];
  excludeOutboundPorts: readonly number[];
  /** Normalized CIDRs (address/prefix, host bits clear), IPv4 and IPv6 mixed. */
  excludeOutboundCidrs: readonly string[];
}

export const CHAINS = Object.freeze({
  inbound: 'LANYARD_INBOUND',
  inboundRedirect: 'LANYARD_IN_REDIRECT',
  output: 'LANYARD_OUTPUT',
  outboundRedirect: 'LANYARD_REDIRECT',
});

const LOOPBACK: Record<AddressFamily, string> = { ipv4: '127.0.0.0/8', ipv6: '::1/128' };

/** At most this many ports or CIDRs per list: a rule set stays small and readable. */
export const MAX_LIST = 256;

function invalid(message: string): never {
  throw new LanyardError<CoreErrorCode>('ERR_CONFIG_INVALID', message);
}

function parsePort(flag: string, text: string): number {
  if (!/^\d{1,5}$/.test(text)) invalid(`${flag}: "${text}" is not a port (1-65535)`);
  const port = Number(text);
  if (port < 1 || port > 65535) invalid(`${flag}: ${port} is not a port (1-65535)`);
  return port;
}

function items(flag: string, text: string): string[] {
  if (text === '') return [];
  const list = text.split(',');
  if (list.length > MAX_LIST) invalid(`${flag}: at most ${MAX_LIST} entries, not ${list.length}`);
  return list.map((item) => item.trim());
}

/** "8080,9090" → [8080, 9090] (duplicates dropped); "" → []. */
export function parsePortList(flag: string, text: string): number[] {
  return [...new Set(items(flag, text).map((item) => parsePort(flag, item)))];
}

/** The 16 bytes of an IPv6 address (isIPv6 has already accepted it). */
function ipv6Bytes(address: string): number[] {
  let text = address;
  const bytes: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (dotted) {
    tail = dotted[1]!.split('.').map(Number);
    text = `${text.slice(0, -dotted[1]!.length)}0:0`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  for (const group of all) bytes.push(group >> 8, group & 0xff);
  if (dotted) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Checks a CIDR strictly (host bits must be clear) and returns it with its family. */
export function parseCidr(flag: string, text: string): { cidr: string; family: AddressFamily } {
  const slash = text.indexOf('/');
  if (slash < 0) invalid(`${flag}: "${text}" is not a CIDR (address/prefix)`);
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family: AddressFamily | undefined = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) invalid(`${flag}: "${text}" is not a CIDR: "${address}" is not an IP address`);
  const bits = family === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    invalid(`${flag}: "${text}" is not a CIDR: the prefix must be 0-${bits}`);
  }
  const prefix = Number(prefixText);
  const bytes = family === 'ipv4' ? address.split('.').map(Number) : ipv6Bytes(address);
  for (let bit = prefix; bit < bits; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) {
      invalid(`${flag}: "${text}" has host bits set after /${prefix}`);
    }
  }
  return { cidr: `${address.toLowerCase()}/${prefix}`, family };
}

export interface InterceptFlags {
  'proxy-uid'?: string;
  'inbound-proxy-port'?: string;
  'outbound-proxy-port'?: string;
  'inbound-ports'?: string;
  'exclude-inbound-ports'?: string;
  'exclude-outbound-ports'?: string;
  'exclude-outbound-cidrs'?: string;
}

/** Turns the command's flags into options; every malformed value is an ERR_CONFIG_INVALID. */
export function parseInterceptFlags(flags: InterceptFlags): InterceptOptions {
  const uidText = flags['proxy-uid'];
  if (uidText === undefined) invalid('--proxy-uid is required');
  // 0 would exempt root, and the kernel's "no UID" (2^32-1) is not a user.
  if (!/^\d{1,10}$/.test(uidText) || Number(uidText) < 1 || Number(uidText) > 4294967294) {
    invalid(`--proxy-uid: "${uidText}" is not a UID (1-4294967294)`);
  }
  const inboundProxyPort = parsePort('--inbound-proxy-port', flags['inbound-proxy-port'] ?? '15006');
  const outboundProxyPort = parsePort('--outbound-proxy-port', flags['outbound-proxy-port'] ?? '15001');
  if (inboundProxyPort === outboundProxyPort) {
    invalid('--inbound-proxy-port and --outbound-proxy-port must differ');
  }
  const inboundText = flags['inbound-ports'] ?? '';
  return {
    proxyUid: Number(uidText),
    inboundProxyPort,
    outboundProxyPort,
    inboundPorts: inboundText.trim() === '*' ? '*' : parsePortList('--inbound-ports', inboundText),
    excludeInboundPorts: parsePortList('--exclude-inbound-ports', flags['exclude-inbound-ports'] ?? ''),
    excludeOutboundPorts: parsePortList('--exclude-outbound-ports', flags['exclude-outbound-ports'] ?? ''),
    excludeOutboundCidrs: [
      ...new Set(
        items('--exclude-outbound-cidrs', flags['exclude-outbound-cidrs'] ?? '').map(
          (text) => parseCidr('--exclude-outbound-cidrs', text).cidr,
        ),
      ),
    ],
  };
}

/** The rules (in `iptables -A` syntax, without the table) for one address family. */
export function interceptRules(options: InterceptOptions, family: AddressFamily): string[] {
  const { inbound, inboundRedirect, output, outboundRedirect } = CHAINS;
  const uid = `-m owner --uid-owner ${options.proxyUid}`;
  const rules = [
    `-A ${inboundRedirect} -p tcp -j REDIRECT --to-ports ${options.inboundProxyPort}`,
    `-A ${outboundRedirect} -p tcp -j REDIRECT --to-ports ${options.outboundProxyPort}`,
  ];
  // Exclusions first: they win over a port also listed as an app port.
  for (const port of options.excludeInboundPorts)
    rules.push(`-A ${inbound} -p tcp --dport ${port} -j RETURN`);
  if (options.inboundPorts === '*') {
    // Connections the proxy itself makes to its inbound port (a call to its own pod) stay there.
    rules.push(`-A ${inbound} -p tcp --dport ${options.inboundProxyPort} -j RETURN`);
    rules.push(`-A ${inbound} -p tcp -j ${inboundRedirect}`);
  } else {
    for (const port of options.inboundPorts) {
      rules.push(`-A ${inbound} -p tcp --dport ${port} -j ${inboundRedirect}`);
    }
  }
  const loopback = LOOPBACK[family];
  rules.push(
    // The proxy calling its own pod's IP: through the inbound rules (see the header comment).
    `-A ${output} -o lo ! -d ${loopback} ${uid} -j ${inbound}`,
    // Anything else through lo stays in the pod: localhost, or the app calling its own pod IP.
    `-A ${output} -o lo -j RETURN`,
    `-A ${output} ${uid} -j RETURN`,
    `-A ${output} -d ${loopback} -j RETURN`,
  );
  for (const port of options.excludeOutboundPorts)
    rules.push(`-A ${output} -p tcp --dport ${port} -j RETURN`);
  for (const cidr of options.excludeOutboundCidrs) {
    if ((isIPv4(cidr.split('/')[0]!) ? 'ipv4' : 'ipv6') === family)
      rules.push(`-A ${output} -d ${cidr} -j RETURN`);
  }
  rules.push(
    `-A ${output} -p tcp -j ${outboundRedirect}`,
    `-A PREROUTING -p tcp -j ${inbound}`,
    `-A OUTPUT -p tcp -j ${output}`,
  );
  return rules;
}

const JUMPS = [`PREROUTING -p tcp -j ${CHAINS.inbound}`, `OUTPUT -p tcp -j ${CHAINS.output}`];

/**
 * The `iptables-restore --noflush` input for one family. Declaring our chains flushes them if
 * they exist, and `existing` (the output of `iptables-save -t nat`) says which of our jumps are
 * already there, so they are deleted before being added: running it twice gives one rule set,
 * and nat rules that are not ours are left alone. The whole input is one transaction.
 */
export function restoreInput(options: InterceptOptions, family: AddressFamily, existing = ''): string {
  const present = new Set(existing.split('\n').map((line) => line.trim()));
  const lines = [
    '*nat',
    ...Object.values(CHAINS).map((chain) => `:${chain} - [0:0]`),
    ...JUMPS.filter((jump) => present.has(`-A ${jump}`)).map((jump) => `-D ${jump}`),
    ...interceptRules(options, family),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}
