import type { Server } from 'node:net';

/** Listens and resolves to the bound port (port 0 picks a free one); rejects on EADDRINUSE. */
export function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}
