/*
 * The simulator's embedded MQTT broker: aedes, by default on 127.0.0.1 and a free port
 * (`pipewatch sim --broker-port`, `--broker-listen`). It has no authentication.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The aedes instance (its 'client' and 'clientDisconnect' events are the link's record). */
  aedes: Aedes;
  close(): Promise<void>;
}

/** Loopback addresses: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1' || address === 'localhost';
}

export async function startEmbeddedBroker(port = 0, host = '127.0.0.1'): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  // noDelay: a PUBACK goes out at once instead of waiting (Nagle) for the node's next packet.
  const server: Server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      broker.close(() => {});
      reject(error);
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('broker: no TCP address');
  // Clients on this machine reach a wildcard address through loopback.
  const local = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `mqtt://${local}:${address.port}`,
    port: address.port,
    aedes: broker,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        broker.close(() => {});
        // connections still open keep server.close() waiting: aedes closes its clients above
      }),
  };
}
