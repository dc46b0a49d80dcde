/*
 * The strict model of the SDK's `preference` module on ESP32 (test/harness/esp32/preference.ts),
 * each rule against the C line it comes from (SDK modules/files/preference/esp32/modPreference.c,
 * xs/sources/xsAPI.c, ESP-IDF components/nvs_flash), and the node's settings store over it
 * (hosts/esp32/settings.ts NvsSettingsStore): alternating keys, corrupt records, power cuts at
 * every NVS write of a save, and the one-time migration of the raw `settings` partition with a
 * power cut at every NVS and flash operation (torn erases included).
 */
import test from 'ava';
import { NvsState, PowerCut, entriesOf, preferenceModel, type NvsItem } from './harness/esp32/preference';
import { SimFlash } from '../simulator/flash/index';
import {
  NvsSettingsStore,
  SETTINGS_DOMAIN,
  SETTINGS_KEYS,
  SettingsStore,
  brokerPolicyProblem,
  encodeSettings,
  insecureBuild,
  type KeyValueStore,
  type Settings,
} from '../hosts/esp32/settings';
import type { Flash } from '../firmware/host';

const good: Settings = {
  ssid: 'Plant-North',
  password: 'correct horse',
  broker: 'mqtts://broker.example.net',
  deviceId: 'pipe-0042',
  intervalMs: 10000,
  sensors: 'tmp117@0x48',
};
const next: Settings = { ...good, ssid: 'Plant-South', intervalMs: 5000 };

function model(state = new NvsState()) {
  return { state, pref: preferenceModel(state) };
}

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return `${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
  return 'no throw';
}

// ---- the model against modPreference.c ----

test('set: a key of 64 bytes or more does not fit char key[64] (xs_preference_set xsmcToStringBuffer; xsAPI.c fxToStringBuffer "cannot buffer string")', (t) => {
  const { pref } = model();
  t.is(message(() => pref.set('d', 'k'.repeat(64), 1)), 'RangeError: cannot buffer string');
  t.is(message(() => pref.get('d', 'k'.repeat(64))), 'RangeError: cannot buffer string', 'xs_preference_get buffers the key first');
  t.is(message(() => pref.delete('d'.repeat(64), 'k')), 'RangeError: cannot buffer string', 'xs_preference_delete buffers the domain too');
});

test('set: a key of 16..63 bytes fits the buffer but not NVS (nvs_page.cpp Page::writeItem: keySize > MAX_KEY_LENGTH 15 → KEY_TOO_LONG → "nvs set fail")', (t) => {
  const { pref, state } = model();
  t.is(message(() => pref.set('d', 'k'.repeat(16), 1)), 'Error: nvs set fail');
  pref.set('d', 'k'.repeat(15), 1);
  t.is(pref.get('d', 'k'.repeat(15)), 1);
  t.is(message(() => pref.set('d', '\u00e9'.repeat(8), 1)), 'Error: nvs set fail', 'bytes count, not characters: 8 × é is 16 bytes');
  t.is([...state.namespaces.get('d')!.keys()].length, 1);
});

test('set: a domain over 15 bytes cannot be opened (nvs_open → KEY_TOO_LONG → "nvs_open fail"); get of such a domain is undefined', (t) => {
  const { pref } = model();
  t.is(message(() => pref.set('d'.repeat(16), 'k', 1)), 'Error: nvs_open fail');
  t.is(pref.get('d'.repeat(16), 'k'), undefined);
  pref.set('d'.repeat(15), 'k', 1);
  t.is(pref.get('d'.repeat(15), 'k'), 1);
});

test('set: value types as xs_preference_set switches on them (u8, i32, str, blob; "float unsupported"; "unsupported type")', (t) => {
  const { pref, state } = model();
  pref.set('d', 'b', true);
  pref.set('d', 'i', -5);
  pref.set('d', 's', 'text');
  pref.set('d', 'a', Uint8Array.of(1, 2, 3).buffer);
  t.deepEqual([...state.namespaces.get('d')!.values()].map((v: NvsItem) => v.type), ['u8', 'i32', 'str', 'blob']);
  t.is(pref.get('d', 'b'), true, 'nvs_get_u8 → xsmcSetBoolean');
  t.is(pref.get('d', 'i'), -5);
  t.is(pref.get('d', 's'), 'text');
  t.deepEqual(new Uint8Array(pref.get('d', 'a') as ArrayBuffer), Uint8Array.of(1, 2, 3));
  t.is(message(() => pref.set('d', 'f', 1.5)), 'Error: float unsupported', 'xsNumberType: dbl != (int)dbl');
  t.is(message(() => pref.set('d', 'f', Number.NaN)), 'Error: float unsupported');
  t.is(message(() => pref.set('d', 'u', Uint8Array.of(1))), 'Error: unsupported type', 'a typed array is not an ArrayBuffer (xsmcIsInstanceOf xsArrayBufferPrototype)');
  t.is(message(() => pref.set('d', 'u', new DataView(new ArrayBuffer(1)))), 'Error: unsupported type');
  t.is(message(() => pref.set('d', 'u', undefined)), 'Error: unsupported type');
  t.is(message(() => pref.set('d', 'u', null)), 'Error: unsupported type');
  t.is(message(() => pref.set('d', 'u', { a: 1 })), 'Error: unsupported type');
  t.regex(message(() => pref.set('d', 'u', 2 ** 31)), /RangeError: preference model: an integer outside int32/, 'undefined behaviour in C: the model refuses');
});

test('get returns a copy, undefined for a missing key or domain; delete of a missing key is not an error (xs_preference_delete: NOT_FOUND → OK)', (t) => {
  const { pref } = model();
  const bytes = Uint8Array.of(9, 9);
  pref.set('d', 'a', bytes.buffer);
  bytes[0] = 1;
  const out = pref.get('d', 'a') as ArrayBuffer;
  new Uint8Array(out)[1] = 7;
  t.deepEqual(new Uint8Array(pref.get('d', 'a') as ArrayBuffer), Uint8Array.of(9, 9), 'neither the caller\'s buffer nor the result aliases the store');
  t.is(pref.get('d', 'missing'), undefined);
  t.is(pref.get('nodomain', 'a'), undefined);
  t.notThrows(() => pref.delete('d', 'missing'));
  pref.delete('d', 'a');
  t.is(pref.get('d', 'a'), undefined);
  t.deepEqual(pref.keys('d'), []);
});

test('strings: UTF-8 and NUL at most 4000 bytes (Page::CHUNK_MAX_SIZE; a string is never split) → else "nvs set fail"', (t) => {
  const { pref } = model();
  pref.set('d', 's', 'x'.repeat(3999));
  t.is((pref.get('d', 's') as string).length, 3999);
  t.is(message(() => pref.set('d', 's2', 'x'.repeat(4000))), 'Error: nvs set fail');
  t.is(message(() => pref.set('d', 's3', '\u00e9'.repeat(2000))), 'Error: nvs set fail', '4000 UTF-8 bytes + NUL');
});

test('capacity: a blob larger than the partition takes is refused ("nvs set fail"); entries counted as NVS lays them out', (t) => {
  const { pref, state } = model(new NvsState(0x5000));
  t.is(state.capacityEntries, 4 * 126, 'five pages, one kept free');
  t.is(entriesOf({ type: 'blob', value: new Uint8Array(4096) }), 1 + (1 + 125) + (1 + 3), 'index + a 4000-byte chunk + a 96-byte chunk');
  t.is(message(() => pref.set('d', 'big', new ArrayBuffer(16_000))), 'Error: nvs set fail');
  pref.set('d', 'a', new ArrayBuffer(4096));
  pref.set('d', 'b', new ArrayBuffer(4096));
  pref.set('d', 'c', new ArrayBuffer(4096));
  t.is(message(() => pref.set('d', 'e', new ArrayBuffer(4096))), 'Error: nvs set fail', 'the fourth 4 KB blob does not fit');
});

test('set erases the key before writing it (modPreference.c ERASE_KEY): a power cut in between leaves neither value', (t) => {
  const { pref, state } = model();
  pref.set('d', 'k', 'old');
  state.cutAfter(1); // the erase completes, the write is cut
  t.throws(() => pref.set('d', 'k', 'new'), { instanceOf: PowerCut });
  t.throws(() => pref.get('d', 'k'), { instanceOf: PowerCut }, 'dead until the next boot');
  state.reboot();
  t.is(preferenceModel(state).get('d', 'k'), undefined, 'the old value is gone and the new one never landed');
});

// ---- the settings store ----

function blobOf(state: NvsState, key: number): Uint8Array | undefined {
  const item = state.namespaces.get(SETTINGS_DOMAIN)?.get(SETTINGS_KEYS[key]!);
  return item?.type === 'blob' ? item.value : undefined;
}

test('store: keys and domain within NVS limits; saves alternate between the two keys, newest wins', (t) => {
  for (const name of [SETTINGS_DOMAIN, ...SETTINGS_KEYS]) t.true(new TextEncoder().encode(name).length <= 15, name);
  const { state, pref } = model();
  const store = new NvsSettingsStore(pref);
  t.is(store.load(), undefined);
  store.save(good);
  t.truthy(blobOf(state, 0));
  t.is(blobOf(state, 1), undefined);
  store.save(next);
  t.truthy(blobOf(state, 1));
  t.deepEqual(new NvsSettingsStore(pref).load(), next);
  store.save(good);
  t.deepEqual(new NvsSettingsStore(pref).load(), good);
  t.is(store.stats.saves, 3);
  t.is(new NvsSettingsStore(pref).stats.corrupt, 0);
});

test('store: a corrupt record or a value of the wrong type is counted and ignored, the other record serves', (t) => {
  const { state, pref } = model();
  const store = new NvsSettingsStore(pref);
  store.save(good);
  store.save(next);
  blobOf(state, 1)![40]! ^= 0x01; // the newer record fails its CRC
  const reread = new NvsSettingsStore(pref);
  t.deepEqual(reread.load(), good);
  t.is(reread.stats.corrupt, 1);
  pref.set(SETTINGS_DOMAIN, SETTINGS_KEYS[1], 'not a record');
  const typed = new NvsSettingsStore(pref);
  t.deepEqual(typed.load(), good);
  t.is(typed.stats.corrupt, 1);
});

test('store: a get that throws is counted, not fatal', (t) => {
  const kv: KeyValueStore = {
    get() {
      throw new Error('nvs get fail');
    },
    set() {},
    delete() {},
  };
  const store = new NvsSettingsStore(kv);
  t.is(store.load(), undefined);
  t.is(store.stats.storageErrors, 2);
});

test('store: a power cut at every NVS write of a save leaves the previous or the new settings, never none', (t) => {
  for (let cut = 0; ; cut++) {
    const { state, pref } = model();
    new NvsSettingsStore(pref).save(good);
    const store = new NvsSettingsStore(pref);
    store.load();
    state.cutAfter(cut);
    let completed = true;
    try {
      store.save(next);
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
      completed = false;
    }
    state.reboot();
    const after = new NvsSettingsStore(preferenceModel(state)).load();
    t.deepEqual(after, completed ? next : good, `cut after ${cut} NVS writes`);
    if (completed) {
      t.true(cut >= 2, 'a save is an erase and a write');
      break;
    }
  }
});

// ---- migration from the raw settings partition ----

function legacyFlash(s?: Settings): SimFlash {
  const flash = new SimFlash({ blocks: 2, blockLength: 4096, writeAlign: 1, eraseValue: 0xff });
  if (s) new SettingsStore(flash).save(s);
  return flash;
}

/** The partition as the host opens it: closing the view (as the store does after `load`) leaves the chip for the test to inspect. */
function opened(flash: SimFlash): Flash {
  return { read: flash.read.bind(flash) as Flash['read'], write: flash.write.bind(flash), eraseBlock: flash.eraseBlock.bind(flash), status: flash.status.bind(flash), close: () => {} };
}

function erased(flash: SimFlash): boolean {
  const bytes = new Uint8Array(8192);
  flash.read(bytes, 0);
  return bytes.every((b) => b === 0xff);
}

test('migration: the raw record moves to NVS, the partition is erased, the next boot migrates nothing', (t) => {
  const { state, pref } = model();
  const flash = legacyFlash(good);
  let opens = 0;
  let closed = 0;
  const store = new NvsSettingsStore(pref, () => {
    opens++;
    return { read: flash.read.bind(flash), write: flash.write.bind(flash), eraseBlock: flash.eraseBlock.bind(flash), status: flash.status.bind(flash), close: () => closed++ } as Flash;
  });
  t.deepEqual(store.load(), good);
  t.deepEqual([opens, closed], [1, 1], 'the raw partition is opened once and closed');
  t.true(store.stats.migrated);
  t.true(store.stats.legacyErased);
  t.true(erased(flash), 'no plaintext copy of the secrets left in the raw partition');
  t.deepEqual(blobOf(state, 0), encodeSettings(good, 1));
  const again = new NvsSettingsStore(pref, () => opened(flash));
  t.deepEqual(again.load(), good);
  t.false(again.stats.migrated);
  t.false(again.stats.legacyErased);
});

test('migration: NVS holds settings already: the raw partition is erased, its older record not used', (t) => {
  const { pref } = model();
  new NvsSettingsStore(pref).save(next);
  const flash = legacyFlash(good);
  const store = new NvsSettingsStore(pref, () => opened(flash));
  t.deepEqual(store.load(), next);
  t.false(store.stats.migrated);
  t.true(store.stats.legacyErased);
});

test('migration: NVS refuses the record (full): the raw record is used and kept', (t) => {
  const { state, pref } = model(new NvsState(0x3000)); // two usable pages
  pref.set('other', 'fill', new ArrayBuffer(7900));
  const flash = legacyFlash(good);
  const store = new NvsSettingsStore(pref, () => opened(flash));
  t.deepEqual(store.load(), good);
  t.false(store.stats.migrated);
  t.is(store.stats.storageErrors, 1);
  t.false(erased(flash));
  t.is(blobOf(state, 0), undefined);
});

test('migration: no raw partition (a later partition table) or a blank one: nothing to do', (t) => {
  const { pref } = model();
  t.is(
    new NvsSettingsStore(pref, () => {
      throw new Error("can't find partition");
    }).load(),
    undefined,
  );
  const blank = new NvsSettingsStore(pref, () => opened(legacyFlash()));
  t.is(blank.load(), undefined);
  t.false(blank.stats.legacyErased);
});

/**
 * The raw partition with every write and erase also counted against the NVS model's power
 * budget, so one countdown cuts at the n-th operation of either kind. The cut operation itself
 * is torn (`tear`): a torn erase leaves part of the block as it was.
 */
function powered(flash: SimFlash, state: NvsState): Flash {
  return {
    read: ((target: never, offset: number) => {
      state.alive();
      return flash.read(target, offset);
    }) as Flash['read'],
    write(buffer, offset) {
      if (state.cutCountdown === 0) flash.cutAfter(0, { tear: true, seed: offset + 1 });
      state.operation();
      flash.write(buffer, offset);
    },
    eraseBlock(block) {
      if (state.cutCountdown === 0) {
        flash.cutAfter(0, { tear: true, seed: block + 7 });
        try {
          flash.eraseBlock(block);
        } catch {
          /* torn */
        }
      }
      state.operation();
      flash.eraseBlock(block);
    },
    status: () => flash.status(),
    close: () => {},
  };
}

test('migration: a power cut at every NVS and flash operation, torn erases included, never loses the settings; a later boot finishes the migration', (t) => {
  let sawEveryStep = false;
  let cutsHit = 0;
  for (let cut = 0; cut < 64; cut++) {
    const state = new NvsState();
    let flash = legacyFlash(good);
    let boots = 0;
    state.cutAfter(cut);
    for (;;) {
      boots++;
      const view = flash;
      const store = new NvsSettingsStore(preferenceModel(state), () => powered(view, state));
      let loaded: Settings | undefined;
      try {
        loaded = store.load();
      } catch (error) {
        if (!(error instanceof PowerCut)) throw error;
      }
      if (state.powerCut && boots === 1) cutsHit++;
      if (!state.powerCut) {
        t.deepEqual(loaded, good, `cut ${cut}, boot ${boots}: the settings`);
        if (erased(flash)) break;
      }
      state.reboot();
      flash = flash.poweredOff ? flash.reboot() : flash;
      t.true(boots < 4, `cut ${cut}: the migration ends`);
      if (boots >= 4) break;
    }
    t.deepEqual(new NvsSettingsStore(preferenceModel(state)).load(), good, `cut ${cut}: in NVS at the end`);
    t.true(erased(flash), `cut ${cut}: raw partition erased at the end`);
    if (boots === 1) {
      sawEveryStep = cut > 0;
      break; // the cut came after the whole migration: every earlier step has been cut
    }
  }
  t.true(sawEveryStep);
  t.is(cutsHit, 5, 'cut at: namespace creation, key erase, blob write, erase of block 0, erase of block 1');
});

// ---- the broker policy of device builds ----

test('insecureBuild: only true or "true" (mcconfig insecure=true arrives as a string)', (t) => {
  t.true(insecureBuild({ insecure: true }));
  t.true(insecureBuild({ insecure: 'true' }));
  for (const value of [false, 'false', '', '1', 1, undefined, 'TRUE']) t.false(insecureBuild({ insecure: value }), String(value));
});

test('brokerPolicyProblem: plain MQTT refused unless insecure; mqtts:// needs the plant CA in the settings or the build', (t) => {
  const ca = Uint8Array.of(0x30, 0x00);
  t.regex(brokerPolicyProblem({ ...good, broker: 'mqtt://10.0.0.5' }, false, false), /^E_INSECURE_BROKER: broker "mqtt:\/\/10\.0\.0\.5" is plain MQTT/);
  t.is(brokerPolicyProblem({ ...good, broker: 'mqtt://10.0.0.5' }, true, false), '');
  t.regex(brokerPolicyProblem(good, false, false), /^E_NO_CA: broker "mqtts:\/\/broker\.example\.net" needs the plant CA/);
  t.regex(brokerPolicyProblem(good, true, false), /^E_NO_CA/, 'insecure allows plain MQTT, not TLS without an anchor');
  t.is(brokerPolicyProblem({ ...good, ca }, false, false), '');
  t.is(brokerPolicyProblem(good, false, true), '');
});
