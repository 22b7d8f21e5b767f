// The demo's three services. Each calls the next through its own sidecar's outbound port,
// passing the user's Authorization header on, as a real app behind a mesh would.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface AppHandle {
  readonly port: number;
  close(): void;
}

function call(
  outboundPort: number,
  host: string,
  method: string,
  path: string,
  authorization: string | undefined,
): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: outboundPort,
        method,
        path,
        headers: { host, ...(authorization ? { authorization } : {}) },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          // The challenges a client must see survive the hop: step-up and rate limits.
          for (const name of ['www-authenticate', 'retry-after']) {
            const value = res.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          resolve({ status: res.statusCode ?? 502, body, headers });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function listen(server: Server): Promise<AppHandle> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as { port: number }).port, close: () => server.close() }),
    ),
  );
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const user = (req: IncomingMessage) => req.headers['x-lanyard-user'] ?? null;

/** payments: answers with the user it saw, proving the token arrived after two hops. */
export function startPayments(): Promise<AppHandle> {
  return listen(
    createServer((req, res) =>
      reply(res, 200, { payment: req.url?.split('/')[2], user: req.headers['x-demo-user'] ?? null }),
    ),
  );
}

/** orders: reads an order (with its payment, from payments) or refunds it. */
export function startOrders(outboundPort: () => number): Promise<AppHandle> {
  return listen(
    createServer((req, res) => {
      const id = req.url?.split('/')[2] ?? '';
      if (req.method === 'POST') return reply(res, 200, { refunded: id, by: user(req) });
      call(outboundPort(), 'payments.demo', 'GET', `/payments/${id}`, req.headers.authorization).then(
        (payment) =>
          payment.status === 200
            ? reply(res, 200, { order: id, payment: JSON.parse(payment.body) as unknown })
            : reply(res, payment.status, { order: id, error: payment.body.trim() }),
        () => reply(res, 502, { error: 'payments unreachable' }),
      );
    }),
  );
}

/** web: the storefront; /shop/orders/:id[/refund] goes to orders. */
export function startWeb(outboundPort: () => number): Promise<AppHandle> {
  return listen(
    createServer((req, res) => {
      const path = (req.url ?? '/').replace(/^\/shop/, '');
      call(outboundPort(), 'orders.demo', req.method ?? 'GET', path, req.headers.authorization).then(
        (answer) => {
          res
            .writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
            .end(answer.body);
        },
        () => reply(res, 502, { error: 'orders unreachable' }),
      );
    }),
  );
}
