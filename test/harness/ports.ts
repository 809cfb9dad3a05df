// Free loopback TCP ports for the services the harness starts.
import { createServer } from 'node:net';

// Ports handed out by this process. The kernel may hand the same ephemeral port
// to two back-to-back listen(0) calls once the first socket is closed, and a
// service that takes a moment to bind would then collide with its sibling
// (Dovecot needs two ports at once), so never return the same port twice.
const handedOut = new Set<number>();

function askKernel(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from the kernel'))));
    });
  });
}

/** A loopback TCP port that was free a moment ago and has not been handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await askKernel();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: the kernel kept returning ports already handed out');
}
