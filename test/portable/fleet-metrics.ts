/* Fleet metrics (tools/fleet/metrics.ts) from synthetic heartbeats and OTA events; docs/fleet.md defines each. */
import { FleetMetrics, dayOf, type FleetHeartbeat } from '../../tools/fleet/metrics';
import { equal, ok } from '../harness/assert';

const DAY0 = 1767225600000; // 2026-01-01T00:00:00Z
const H = 3_600_000;
const Q = 15 * 60_000;

function hb(dev: string, t: number, conn: number, exp = Q, extra: Partial<FleetHeartbeat> = {}): FleetHeartbeat {
  return { dev, ts: t, sync: true, up_ms: t - DAY0, conn_ms: conn, exp_ms: exp, faults: [], pending: 0, ...extra };
}

const registry = [
  { id: 'a1', line: 'A' },
  { id: 'a2', line: 'A' },
  { id: 'b1', line: 'B' },
  { id: 'b2', line: 'B' },
];

export const tests = {
  'calendar days and months in UTC'() {
    equal(dayOf(DAY0), '2026-01-01');
    equal(dayOf(DAY0 - 1), '2025-12-31');
    equal(dayOf(Date.UTC(2028, 1, 29, 23, 59)), '2028-02-29');
    equal(dayOf(Date.UTC(2000, 2, 1)), '2000-03-01');
  },
  'activation rate: registered devices that ever reported, over all registered; strangers listed apart'() {
    const m = new FleetMetrics(registry);
    m.addHeartbeat(hb('a1', DAY0 + H, Q));
    m.addHeartbeat(hb('b1', DAY0 + H, Q));
    m.addHeartbeat(hb('x9', DAY0 + H, Q));
    const r = m.report();
    equal(r.activation.registered, 4);
    equal(r.activation.activated, 2);
    equal(r.activation.rate, 0.5);
    equal(JSON.stringify(r.activation.unregistered), '["x9"]');
  },
  'connectivity uptime per device and per line per day: Σ connected over Σ expected'() {
    const m = new FleetMetrics(registry);
    // a1: a full day online; a2: offline 6 h of day 1 (24 of 96 periods connected 0); day 2 both online.
    for (let k = 1; k <= 96; k++) {
      const t = DAY0 + k * Q - 1;
      m.addHeartbeat(hb('a1', t, Q));
      m.addHeartbeat(hb('a2', t, k > 24 && k <= 48 ? 0 : Q));
      m.addHeartbeat(hb('a1', t + 86_400_000, Q));
      m.addHeartbeat(hb('a2', t + 86_400_000, Q));
    }
    const r = m.report();
    equal(r.uptime.devices.a1!['2026-01-01']!.uptime, 1);
    equal(r.uptime.devices.a2!['2026-01-01']!.uptime, 0.75);
    equal(r.uptime.devices.a2!['2026-01-01']!.expectedMs, 86_400_000);
    equal(r.uptime.lines.A!['2026-01-01']!.uptime, 0.875);
    equal(r.uptime.lines.A!['2026-01-02']!.uptime, 1);
    equal(r.uptime.fleet, (4 * 96 - 24) / (4 * 96));
    const since = m.report({ sinceMs: DAY0 + 86_400_000 });
    equal(since.uptime.devices.a2!['2026-01-01'], undefined, 'days before --since are left out');
    equal(since.uptime.fleet, 1);
  },
  'a heartbeat covering an outage counts its whole period; an impossible one is refused'() {
    const m = new FleetMetrics(registry);
    m.addHeartbeat(hb('b1', DAY0 + 4 * H, 15 * 60_000, 4 * H));
    m.addHeartbeat({ ...hb('b1', DAY0 + 5 * H, Q), conn_ms: 2 * H, exp_ms: Q });
    m.addHeartbeat({ ...hb('b1', DAY0 + 5 * H, Q), sync: false });
    equal(m.rejected, 2);
    m.addHeartbeat({ ...hb('b1', DAY0 + 5 * H, Q), sync: false, ts: 12345 }, DAY0 + 5 * H);
    const d = m.report().uptime.devices.b1!['2026-01-01']!;
    equal(d.expectedMs, 4 * H + Q);
    equal(d.connectedMs, 2 * Q);
  },
  'OTA success rate per version: confirmed over started; failures by reason; refusals are not starts'() {
    const m = new FleetMetrics(registry);
    const t = DAY0 + H;
    m.addOtaStatus('a1', { event: 'progress' , version: '1.1.0' }, t);
    m.addOtaStatus('a1', { event: 'verified', version: '1.1.0' }, t + 1);
    m.addOtaStatus('a1', { event: 'confirmed', version: '1.1.0' }, t + 2);
    m.addOtaStatus('a2', { event: 'progress', version: '1.1.0' }, t);
    m.addOtaStatus('a2', { event: 'progress' }, t + 1);
    m.addOtaStatus('a2', { event: 'rolledBack', version: '1.1.0' }, t + 2);
    m.addOtaStatus('b1', { event: 'progress', version: '1.1.0' }, t);
    m.addOtaStatus('b1', { event: 'failed', reason: 'digestMismatch', version: '1.1.0' }, t + 1);
    m.addOtaStatus('b2', { event: 'refused', reason: 'downgrade', version: '1.1.0' }, t);
    m.addOtaStatus('b2', { event: 'booted' }, t);
    m.addOtaStatus('b2', { event: 'progress', version: '1.2.0' }, t);
    const r = m.report().ota;
    const v = r.rollouts['1.1.0']!;
    equal(v.started, 3);
    equal(v.confirmed, 1);
    equal(v.failed, 2);
    equal(v.pending, 0);
    equal(v.successRate, 1 / 3);
    equal(JSON.stringify(v.failures), '{"rolledBack":1,"digestMismatch":1}');
    equal(r.rollouts['1.2.0']!.pending, 1);
    equal(r.successRate, 1 / 4);
    // a retry after a failure is under way again, and can succeed
    m.addOtaStatus('b1', { event: 'progress', version: '1.1.0' }, t + 10);
    m.addOtaStatus('b1', { event: 'confirmed', version: '1.1.0' }, t + 11);
    equal(m.report().ota.rollouts['1.1.0']!.confirmed, 2);
  },
  'monthly active devices: at least one heartbeat in the month'() {
    const m = new FleetMetrics(registry);
    m.addHeartbeat(hb('a1', DAY0 + H, Q));
    m.addHeartbeat(hb('a1', DAY0 + 20 * 86_400_000, Q));
    m.addHeartbeat(hb('a2', DAY0 + 40 * 86_400_000, Q));
    m.addHeartbeat(hb('a1', DAY0 + 40 * 86_400_000, Q));
    equal(JSON.stringify(m.report().monthlyActiveDevices), '{"2026-01":1,"2026-02":2}');
  },
  'health score per line: 100 for a perfect line; uptime, faults, backlog and update failures lower it by the documented weights'() {
    const m = new FleetMetrics(registry);
    for (let k = 1; k <= 4; k++) {
      const t = DAY0 + k * Q;
      m.addHeartbeat(hb('a1', t, Q));
      m.addHeartbeat(hb('a2', t, Q));
      m.addHeartbeat(hb('b1', t, Q / 2, Q, { faults: [[0, 'E_BUS', k]] }));
      m.addHeartbeat(hb('b2', t, Q / 2, Q, { pending: 500, oldest_age_ms: 2 * H }));
    }
    m.addOtaStatus('b1', { event: 'progress', version: '1.1.0' }, DAY0 + Q);
    m.addOtaStatus('b1', { event: 'rolledBack', version: '1.1.0' }, DAY0 + 2 * Q);
    m.addOtaStatus('b2', { event: 'confirmed', version: '1.1.0' }, DAY0 + 2 * Q);
    const h = m.report().health;
    equal(h.A!.score, 100);
    equal(h.B!.uptime, 0.5);
    equal(h.B!.faultyShare, 0.5);
    equal(h.B!.backlogShare, 0.5);
    equal(h.B!.updateFailureRate, 0.5);
    equal(h.B!.score, Math.round(100 * (0.4 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5)));
  },
  'faults are totals since boot: a reboot starts them again, a repeat is not new'() {
    const m = new FleetMetrics([{ id: 'a1', line: 'A' }]);
    m.addHeartbeat(hb('a1', DAY0 + Q, Q, Q, { faults: [[0, 'E_BUS', 3]] }));
    m.addHeartbeat(hb('a1', DAY0 + 86_400_000 + Q, Q, Q, { faults: [[0, 'E_BUS', 3]] }));
    const r1 = m.report({ sinceMs: DAY0 + 86_400_000 });
    equal(r1.health.A!.faultyShare, 0, 'no new fault on day 2');
    m.addHeartbeat({ ...hb('a1', DAY0 + 86_400_000 + 2 * Q, Q, Q, { faults: [[0, 'E_CRC', 1]] }), up_ms: 1000 });
    ok(m.report({ sinceMs: DAY0 + 86_400_000 }).health.A!.faultyShare === 1, 'after a reboot the count is new');
  },
};
