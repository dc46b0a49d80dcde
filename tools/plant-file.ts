/* Reading a plant file for the commands that take --plant (sim, detect, incidents). */
import { readFileSync } from 'node:fs';
import { Failure, UsageError, oneLine } from './args';
import { parsePlant, type PlantSpec } from '../simulator/plant/model';

/** A plant file, checked (a bad one is a usage error, exit 2; an unreadable one a failure, exit 1). */
export function readPlantFile(file: string): PlantSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Failure(`cannot read --plant ${file}: ${oneLine(error)}`);
  }
  try {
    return parsePlant(JSON.parse(text));
  } catch (error) {
    throw new UsageError(`--plant ${file}: ${oneLine(error)}`);
  }
}
