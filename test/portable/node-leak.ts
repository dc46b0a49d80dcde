/* A node's leak events (firmware/node.ts): the alert's evidence and the clear on pipewatch/<dev>/leak; faults feed the detector. */
import { PipewatchNode } from '../../firmware/node';
import { createBoard } from '../../simulator/board';
import { equal, ok } from '../harness/assert';
import { Rig, bytesToText } from './uplink-rig';

function rig() {
  const r = new Rig(4);
  const world = { temperature: 60 };
  const env = { now: () => r.now, temperature: () => world.temperature, humidity: () => 40, pressure: () => 101325, ambient: () => 25 };
  const board = createBoard([{ part: 'tmp117', address: 0x48 }], () => env, 5);
  const logs: string[] = [];
  const host = { ...r.host, io: { ...r.host.io, ...board.io }, log: (level: string, message: string) => logs.push(`${level} ${message}`) };
  const node = new PipewatchNode(host, { deviceId: 'pipe-7', broker: { address: '10.0.0.5', port: 1883 }, sensors: [{ part: 'tmp117', address: 0x48 }] });
  const sent: string[] = [];
  let busy = false;
  node.uplink.sendSide = (topic, payload, length) => {
    if (busy) return false;
    sent.push(`${bytesToText(topic)} ${bytesToText(payload.subarray(0, length))}`);
    return true;
  };
  Object.defineProperty(node.uplink, 'sideBusy', { get: () => busy });
  const sample = (n: number) => {
    for (let i = 0; i < n; i++) {
      r.advance(10_000);
      node.sampleNow();
    }
  };
  return { node, world, sent, logs, sample, setBusy: (b: boolean) => (busy = b) };
}

export const tests = {
  'an alert publishes its evidence on pipewatch/<dev>/leak; the return publishes the clear'() {
    const { node, world, sent, logs, sample } = rig();
    sample(30);
    equal(sent.length, 0);
    world.temperature = 75;
    sample(3);
    equal(sent.length, 1, sent.join('\n'));
    const [topic, json] = sent[0]!.split(' ');
    equal(topic, 'pipewatch/pipe-7/leak');
    const m = JSON.parse(json!);
    equal(m.dev, 'pipe-7');
    equal(m.event, 'alert');
    equal(m.rule, 'rate');
    equal(m.ch, 0);
    ok(Math.abs(m.mC - 75_000) < 20 && Math.abs(m.baseline_mC - 60_000) < 50, json!);
    ok(m.rise_mC > 14_000 && m.slope_mC_per_min > 1000, json!);
    ok(Number.isInteger(m.seq) && Number.isInteger(m.ts), json!);
    ok(logs.some((l) => /^warn leak alert: channel 0 rose to 7\d(\.\d+)? °C, \+1\d\.\d+ °C over baseline (59|60)[.\d]* °C, [\d.]+ °C\/min \(rate rule, #\d+\)$/.test(l)), logs.join('\n'));
    world.temperature = 60;
    sample(3);
    equal(sent.length, 2);
    equal(JSON.parse(sent[1]!.split(' ')[1]!).event, 'cleared');
    equal(node.stats().alerts, 1);
    equal(node.stats().leakEventsDropped, 0);
  },
  'while the side channel is busy the evidence is dropped and counted; the alert itself is stored'() {
    const { node, world, sent, sample, setBusy } = rig();
    sample(30);
    setBusy(true);
    world.temperature = 80;
    sample(3);
    equal(sent.length, 0);
    equal(node.stats().alerts, 1);
    equal(node.stats().leakEventsDropped, 1);
    ok(node.store.stats.appended >= 33);
  },
};
