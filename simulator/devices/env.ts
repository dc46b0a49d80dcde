/*
 * What a simulated device senses. The simulator's world provides one per sensor position;
 * tests provide a fixed or scripted one. `now()` is the host's monotonic clock in ms, used
 * for conversion timing (a conversion started at t is ready at t + conversion time).
 */
export interface SimEnv {
  now(): number;
  /** Temperature at the sensing element, °C. */
  temperature(): number;
  /** Relative humidity, %RH (0..100). */
  humidity(): number;
  /** Absolute pressure, Pa. */
  pressure(): number;
  /** Ambient (die) temperature for parts that have one (IR, thermocouple cold junction), °C. */
  ambient(): number;
}

/** A constant environment, for tests; fields may be changed between samples. */
export class FixedEnv implements SimEnv {
  time = 0;
  temperatureC = 25;
  humidityRH = 40;
  pressurePa = 101325;
  ambientC = 25;
  now(): number {
    return this.time;
  }
  temperature(): number {
    return this.temperatureC;
  }
  humidity(): number {
    return this.humidityRH;
  }
  pressure(): number {
    return this.pressurePa;
  }
  ambient(): number {
    return this.ambientC;
  }
}
