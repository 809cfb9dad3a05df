// A TCP proxy on a free loopback port, placed between the bot and a server
// so a test can break the path the way networks break it. blackhole() does
// what a firewall or NAT box does when it forgets a connection: nothing is
// forwarded any more in either direction, yet neither end is told (no FIN,
// no RST), so each side's socket stays open and a client waits forever for
// an answer. Kernel keepalive does not see this (the proxy's own kernel
// answers the probes), which is what a client-side command timeout is for.
// New connections made after blackhole() are forwarded normally, as after a
// NAT table flush.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxyHandle {
  host: string;
  port: number;
  /** Connections accepted so far (the total, closed ones included). */
  readonly accepted: number;
  /** Connections currently open and still forwarding. */
  readonly live: number;
  /** Stop forwarding on every open connection without closing it; returns how many were cut. */
  blackhole(): number;
  stop(): Promise<void>;
}

interface Pair { client: Socket; upstream: Socket; dead: boolean }

export interface TcpProxyOptions {
  /** Sees every chunk the client sends, before it is forwarded (a wire tap, e.g. for timing commands). */
  onClientData?: (chunk: Buffer, client: Socket) => void;
  /** Forward the server's bytes to the client at most this fast (a slow link); unlimited when absent. */
  downstreamBytesPerSecond?: number;
}

export async function startTcpProxy(target: { host: string; port: number }, opts: TcpProxyOptions = {}): Promise<TcpProxyHandle> {
  const pairs = new Set<Pair>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect({ host: target.host, port: target.port });
    const pair: Pair = { client, upstream, dead: false };
    pairs.add(pair);
    // Data is dropped, never buffered, once the pair is blackholed: the
    // sockets keep reading so neither peer sees back-pressure either.
    client.on('data', (d: Buffer) => {
      if (pair.dead) return;
      opts.onClientData?.(d, client);
      upstream.write(d);
    });
    const rate = opts.downstreamBytesPerSecond;
    let sendAt = 0;
    // A chunk waiting for the slow link, and whether the server closed meanwhile.
    let holding = false;
    let closeAfter = false;
    upstream.on('data', (d: Buffer) => {
      if (pair.dead) return;
      if (!rate) {
        client.write(d);
        return;
      }
      // A slow link: each chunk leaves when the ones before it would have,
      // and the server is held back meanwhile (TCP back-pressure).
      sendAt = Math.max(sendAt, Date.now()) + (d.length / rate) * 1000;
      holding = true;
      upstream.pause();
      setTimeout(() => {
        holding = false;
        if (!pair.dead) client.write(d);
        upstream.resume();
        // The server's last bytes (an IMAP BYE) are passed on before its close.
        if (closeAfter) {
          pairs.delete(pair);
          client.end();
          upstream.destroy();
        }
      }, sendAt - Date.now());
    });
    const end = (): void => {
      // A blackholed pair never passes on a close: a firewall that dropped
      // the state would not either.
      if (pair.dead) return;
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', () => {
      if (holding && !pair.dead) closeAfter = true;
      else end();
    });
    client.on('error', () => end());
    upstream.on('error', () => end());
  });
  server.on('error', () => {});
  // Port 0: the kernel picks a free port and it is ours at once (no race
  // between choosing and binding, unlike a separate service's port).
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: '127.0.0.1',
    port,
    get accepted() { return accepted; },
    get live() { return [...pairs].filter((p) => !p.dead).length; },
    blackhole() {
      let n = 0;
      for (const p of pairs) {
        if (!p.dead) n++;
        p.dead = true;
      }
      return n;
    },
    async stop() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
