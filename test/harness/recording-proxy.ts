/*
 * A pass-through TCP proxy on loopback that records what each client sends: the determinism
 * tests compare the firmware's bytes across engines and worker counts.
 */
import net from 'node:net';

/** A pass-through proxy that records what the firmware sends, per connection. */
export async function recordingProxy(target: number) {
  const streams: Buffer[][] = [];
  const closed: Promise<void>[] = [];
  const server = net.createServer({ noDelay: true }, (client) => {
    const sent: Buffer[] = [];
    streams.push(sent);
    closed.push(new Promise((resolve) => client.once('close', () => resolve())));
    const upstream = net.connect({ port: target, host: '127.0.0.1', noDelay: true });
    client.on('data', (chunk) => {
      sent.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** What the nodes sent; the observer's own connection is left out. */
    bytes: () =>
      Buffer.concat(streams.filter((sent) => !Buffer.concat(sent).includes('pipewatch-observer')).flat()),
    /** Each node's bytes (by the node-NNN id its CONNECT carries), over all its connections in order. */
    byNode(): Map<string, Buffer> {
      const out = new Map<string, Buffer>();
      for (const sent of streams) {
        const bytes = Buffer.concat(sent);
        const id = /node-\d{3}/.exec(bytes.subarray(0, 64).toString('latin1'))?.[0];
        if (!id) continue;
        out.set(id, Buffer.concat([out.get(id) ?? Buffer.alloc(0), bytes]));
      }
      return out;
    },
    /** Resolves once every connection the nodes opened has closed (their last bytes are in). */
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(closed);
    },
  };
}
