// The "Node.js http pair" comparator of bench/dataplane.ts: the smallest mTLS proxy pair Node's
// own http and https modules make, with no policy, no token and no logging. It measures what
// node:http itself costs per proxied request on this machine, beside nginx and Lanyard. Each
// side runs as its own process from the source this returns (`node --input-type=module -e`).

export interface NodeProxySide {
  role: 'client' | 'server';
  /** Where this side listens (127.0.0.1). */
  port: number;
  /** Where it forwards: the server side of the pair (client), or the app (server). */
  upstreamPort: number;
  certFile: string;
  keyFile: string;
  rootsFile: string;
}

export function nodeProxySource(side: NodeProxySide): string {
  const tls = `cert: readFileSync(${JSON.stringify(side.certFile)}), key: readFileSync(${JSON.stringify(side.keyFile)}), ca: readFileSync(${JSON.stringify(side.rootsFile)})`;
  // Client side: plain HTTP in, mTLS out with keep-alive (chain checked; an SVID has no DNS
  // name, so the name is not, as in the nginx pair). Server side: mTLS in, keep-alive to the app.
  const [server, client, inbound, outbound] =
    side.role === 'client'
      ? [
          'node:http',
          'node:https',
          '{ keepAliveTimeout: 60_000 }',
          `${tls}, checkServerIdentity: () => undefined`,
        ]
      : [
          'node:https',
          'node:http',
          `{ ${tls}, requestCert: true, rejectUnauthorized: true, keepAliveTimeout: 60_000 }`,
          '',
        ];
  return `
import { readFileSync } from 'node:fs';
import { createServer } from '${server}';
import { Agent, request } from '${client}';
const agent = new Agent({ keepAlive: true, maxSockets: 64, ${outbound} });
createServer(${inbound}, (req, res) => {
  const upstream = request(
    { host: '127.0.0.1', port: ${side.upstreamPort}, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
}).listen(${side.port}, '127.0.0.1');
`;
}
