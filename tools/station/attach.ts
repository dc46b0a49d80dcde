/*
 * The station attached to a simulator run (`pipewatch sim --station`, what `npm start` runs):
 * MQTT 3.1.1 (the embedded aedes broker speaks nothing newer) and a database of the run's own.
 * Simulated nodes start their sequence numbers afresh on every run unless their flash is kept
 * (`--flash-dir DIR`), so the database lives with that flash (DIR/station.db) or, without one,
 * in a temporary folder removed at the end: an old run's (device, seq) keys would make the new
 * run's readings look like duplicates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStation, type Station } from './main';
import type { Plant } from './plant';

const SETTLE_QUIET_MS = 300;
const SETTLE_MAX_MS = 5000;

/** `plant`: where the run's nodes sit (plantOfRun), for the plant page and the station's incidents. */
export async function attachStation(broker: string, flashDir: string | undefined, plant?: Plant): Promise<Station> {
  const temporary = flashDir === undefined ? mkdtempSync(join(tmpdir(), 'pipewatch-sim-station-')) : undefined;
  const station: Station = await startStation({
    broker,
    db: join(flashDir ?? temporary!, 'station.db'),
    clientId: 'pipewatch-sim-station',
    port: 0,
    listen: '127.0.0.1',
    offlineAfterMs: 60_000,
    plant,
    protocolVersion: 4,
  });
  await station.subscribed;
  return {
    ...station,
    close: async () => {
      // The nodes are done when the broker has acknowledged them; what the broker forwards may
      // still be on its way to the station.
      await station.settled(SETTLE_QUIET_MS, SETTLE_MAX_MS);
      await station.close();
      if (temporary) rmSync(temporary, { recursive: true, force: true });
    },
  };
}
