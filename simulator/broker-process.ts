/*
 * The embedded broker in a process of its own (startBrokerProcess in broker.ts): argv is the
 * port, the address and "virtual" or "real" (keep-alive in real time). It reports its URL and
 * port to the parent over IPC, closes on the parent's "close" and ends with the parent.
 */
import { startEmbeddedBroker } from './broker';

const [portText = '0', host = '127.0.0.1', clock = 'real'] = process.argv.slice(2);
try {
  const broker = await startEmbeddedBroker(Number(portText), host, { realTimeKeepalive: clock !== 'virtual' });
  const end = () => void broker.close().finally(() => process.exit(0));
  process.on('message', (message) => message === 'close' && end());
  process.on('disconnect', end);
  process.send!({ url: broker.url, port: broker.port });
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  process.send!({ error: e.message, code: e.code }, () => process.exit(1));
}
