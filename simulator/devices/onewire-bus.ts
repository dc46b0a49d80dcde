/*
 * A simulated 1-Wire bus: open-drain, wired-AND, with the ROM layer every 1-Wire slave shares
 * (DS18B20 datasheet, section "1-Wire ROM Commands", Figure 12 flowchart) and an ECMA-419
 * shaped `OneWire` class bound to it.
 *
 * What the bus does, like the wire:
 * - `reset()` is true when at least one connected device answers with a presence pulse. Every
 *   device then waits for a ROM command; a function command sent before one is ignored.
 * - reads are wired-AND: each bit reads 1 unless some selected device pulls it low. A read with
 *   nobody selected, or a ROM id that matched nobody, reads 0xFF (the pull-up).
 * - Read ROM (33h) with several devices collides (AND of their ids; the CRC fails, as on a wire);
 *   Skip ROM (CCh) selects all of them, so their replies collide too.
 * - `search()` runs the ROM search (F0h) bit by bit, as Maxim application note 187 describes:
 *   each device sends its id bit then its complement, the master picks a direction, devices that
 *   disagree drop out.
 *
 * Fault injection: `shortToGround` (DQ held low: presence always, every bit reads 0),
 * `busError` (the master's IO throws, as a host reports a time-out), `noiseBit` (flip one bit
 * of the next byte read, `-1` when off).
 */
import type { Bytes, OneWire, OneWireConstructor, OneWireOptions } from '../../firmware/host';

/** ROM commands (DS18B20 datasheet, "1-Wire ROM Commands"). */
export const OneWireRom = {
  SEARCH: 0xf0,
  READ: 0x33,
  MATCH: 0x55,
  SKIP: 0xcc,
  ALARM_SEARCH: 0xec,
} as const;

/** The function layer of a 1-Wire slave (what comes after its ROM command). */
export interface SimOneWireDevice {
  /** 64-bit ROM id, LSB first: family code, 48-bit serial, CRC. */
  readonly rom: Uint8Array;
  /** False while the device is unplugged: no presence pulse, never drives the bus. */
  readonly connected: boolean;
  /** Reset pulse: the device abandons any command in progress. */
  reset(): void;
  /** A byte from the master while this device is selected. */
  writeByte(byte: number): void;
  /** The byte this device drives while selected (1 bits = released). */
  readByte(): number;
  /** True when the alarm flag is set (Alarm Search). */
  alarm?(): boolean;
}

type RomState = 'idle' | 'rom' | 'match' | 'readRom' | 'selected';

interface Member {
  device: SimOneWireDevice;
  state: RomState;
  /** Byte index within Match ROM / Read ROM. */
  index: number;
}

export interface SimOneWireStats {
  resets: number;
  bytesWritten: number;
  bytesRead: number;
  searches: number;
}

function bytesOf(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('expected an ArrayBuffer or a view of one');
}

export class SimOneWireBus {
  readonly stats: SimOneWireStats = { resets: 0, bytesWritten: 0, bytesRead: 0, searches: 0 };
  readonly #members: Member[] = [];
  /** DQ shorted to ground. */
  shortToGround = false;
  /** Every bus operation throws (host time-out / bus fault). */
  busError = false;
  /** Flip this bit (0..7) of the next byte read, then turn off; -1 = off. */
  noiseBit = -1;

  attach(device: SimOneWireDevice): void {
    if (device.rom.length !== 8) throw new RangeError('a ROM id is 8 bytes');
    for (const m of this.#members) {
      if (sameRom(m.device.rom, device.rom, 0)) throw new Error('ROM id already on this bus');
    }
    this.#members.push({ device, state: 'idle', index: 0 });
  }

  detach(device: SimOneWireDevice): void {
    const i = this.#members.findIndex((m) => m.device === device);
    if (i >= 0) this.#members.splice(i, 1);
  }

  reset(): boolean {
    this.#fault();
    this.stats.resets++;
    let presence = this.shortToGround;
    for (const m of this.#members) {
      if (!m.device.connected) {
        m.state = 'idle';
        continue;
      }
      presence = true;
      m.state = 'rom';
      m.index = 0;
      m.device.reset();
    }
    return presence;
  }

  writeByte(byte: number): void {
    this.#fault();
    this.stats.bytesWritten++;
    for (const m of this.#members) {
      if (!m.device.connected) continue;
      // A 0 bit the master writes while DQ is shorted still reads as 0; a 1 is lost.
      const seen = this.shortToGround ? 0 : byte & 0xff;
      switch (m.state) {
        case 'rom':
          if (seen === OneWireRom.MATCH) (m.state = 'match'), (m.index = 0);
          else if (seen === OneWireRom.SKIP) m.state = 'selected';
          else if (seen === OneWireRom.READ) (m.state = 'readRom'), (m.index = 0);
          else m.state = 'idle';
          break;
        case 'match':
          if (m.device.rom[m.index] !== seen) m.state = 'idle';
          else if (++m.index === 8) m.state = 'selected';
          break;
        case 'selected':
          m.device.writeByte(seen);
          break;
        default:
          m.state = 'idle';
      }
    }
  }

  readByte(): number {
    this.#fault();
    this.stats.bytesRead++;
    let value = 0xff;
    for (const m of this.#members) {
      if (!m.device.connected) continue;
      if (m.state === 'readRom') {
        value &= m.index < 8 ? m.device.rom[m.index++]! : 0xff;
      } else if (m.state === 'selected') {
        value &= m.device.readByte() & 0xff;
      }
    }
    if (this.shortToGround) value = 0;
    if (this.noiseBit >= 0) {
      value ^= 1 << this.noiseBit;
      this.noiseBit = -1;
    }
    return value;
  }

  /**
   * ROM search (AN187): returns the ids found, in search order. With `alarmOnly`, the Alarm
   * Search (ECh) variant. A shorted bus yields no consistent id and ends the search.
   */
  search(alarmOnly = false): Uint8Array[] {
    this.#fault();
    this.stats.searches++;
    const found: Uint8Array[] = [];
    let lastDiscrepancy = -1;
    const rom = new Uint8Array(8);
    for (;;) {
      if (!this.reset()) break;
      const active = this.#members.filter(
        (m) => m.device.connected && (!alarmOnly || (m.device.alarm?.() ?? false)),
      );
      for (const m of this.#members) m.state = 'idle';
      if (active.length === 0 && !this.shortToGround) break;
      let lastZero = -1;
      let failed = false;
      for (let bit = 0; bit < 64; bit++) {
        let idBit = 1;
        let complement = 1;
        for (const m of active) {
          const b = (m.device.rom[bit >> 3]! >> (bit & 7)) & 1;
          idBit &= b;
          complement &= b ^ 1;
        }
        if (this.shortToGround) idBit = complement = 0;
        let direction: number;
        if (idBit === 1 && complement === 1) {
          failed = true; // nobody left answering
          break;
        } else if (idBit !== complement) {
          direction = idBit;
        } else {
          direction = bit < lastDiscrepancy ? (rom[bit >> 3]! >> (bit & 7)) & 1 : bit === lastDiscrepancy ? 1 : 0;
          if (direction === 0) lastZero = bit;
        }
        if (direction) rom[bit >> 3]! |= 1 << (bit & 7);
        else rom[bit >> 3]! &= ~(1 << (bit & 7));
        for (let i = active.length - 1; i >= 0; i--) {
          const b = (active[i]!.device.rom[bit >> 3]! >> (bit & 7)) & 1;
          if (b !== direction) active.splice(i, 1);
        }
      }
      if (failed) break;
      // A shorted bus reads as one all-zero id (whose CRC, 0, even checks): found once.
      found.push(rom.slice());
      lastDiscrepancy = lastZero;
      if (lastDiscrepancy < 0 || this.shortToGround) break;
    }
    return found;
  }

  #fault(): void {
    if (this.busError) throw new Error('1-Wire bus error: time-out');
  }

  /** An ECMA-419 shaped class whose instances talk to this bus (any pin maps to this bus). */
  classes(): { OneWire: OneWireConstructor } {
    const bus = this;
    class SimOneWire implements OneWire {
      #closed = false;
      constructor(options: OneWireOptions) {
        if (!options || typeof options !== 'object' || !Number.isInteger(options.pin) || options.pin < 0) {
          throw new RangeError('invalid 1-Wire pin');
        }
      }
      reset(): boolean {
        this.#check();
        return bus.reset();
      }
      write(buffer: Bytes): void {
        this.#check();
        const bytes = bytesOf(buffer);
        for (let i = 0; i < bytes.length; i++) bus.writeByte(bytes[i]!);
      }
      read(lengthOrBuffer: number | Bytes): any {
        this.#check();
        if (typeof lengthOrBuffer === 'number') {
          if (!Number.isInteger(lengthOrBuffer) || lengthOrBuffer < 1) throw new RangeError('invalid length');
          const out = new Uint8Array(lengthOrBuffer);
          for (let i = 0; i < out.length; i++) out[i] = bus.readByte();
          return out.buffer;
        }
        const into = bytesOf(lengthOrBuffer);
        for (let i = 0; i < into.length; i++) into[i] = bus.readByte();
        return undefined;
      }
      search(): ArrayBuffer[] {
        this.#check();
        return bus.search().map((rom) => rom.buffer as ArrayBuffer);
      }
      close(): void {
        this.#closed = true;
      }
      #check(): void {
        if (this.#closed) throw new Error('OneWire closed');
      }
    }
    return { OneWire: SimOneWire as unknown as OneWireConstructor };
  }
}

function sameRom(a: Uint8Array, b: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[offset + i]) return false;
  return true;
}
