/*
 * An in-process aedes 1.x MQTT broker for tests, on 127.0.0.1 and a free port.
 *
 *   const aedes = await startAedes();      // { port, broker, stop(), restart() }
 *   ... mqtt.connect(`mqtt://127.0.0.1:${aedes.port}`) ...
 *   await aedes.restart();                 // every client is cut off; a fresh broker, same port
 *   await aedes.stop();                    // safe to call twice
 *
 * `broker` is the current Aedes instance (a new one after each restart): in-memory persistence,
 * so a restart loses sessions and retained messages, like a broker without persistence.
 */
import { Aedes } from 'aedes';
import { createServer, type Server, type Socket } from 'node:net';

export interface AedesHandle {
  readonly port: number;
  readonly broker: Aedes;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

interface Running {
  broker: Aedes;
  server: Server;
  sockets: Set<Socket>;
}

async function listen(port: number): Promise<Running> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  return { broker, server, sockets };
}

async function shut(running: Running): Promise<void> {
  const closed = new Promise<void>((resolve) => running.server.close(() => resolve()));
  for (const socket of running.sockets) socket.destroy();
  await new Promise<void>((resolve) => running.broker.close(() => resolve()));
  await closed;
}

export async function startAedes(options: { port?: number } = {}): Promise<AedesHandle> {
  let running: Running | undefined = await listen(options.port ?? 0);
  const address = running.server.address();
  if (address === null || typeof address === 'string') throw new Error('aedes: no TCP address');
  const port = address.port;
  let current = running.broker;
  return {
    port,
    get broker() {
      return current;
    },
    async stop() {
      const was = running;
      running = undefined;
      if (was) await shut(was);
    },
    async restart() {
      const was = running;
      running = undefined;
      if (was) await shut(was);
      running = await listen(port);
      current = running.broker;
    },
  };
}
