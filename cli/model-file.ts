import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../core/armorprofilemodel.js';

/** Reads an ArmorProfileModel from YAML or JSON (ours, or one vArmor wrote), with a clear error. */
export async function readModel(path: string): Promise<ArmorProfileModel> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${path} is not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const m = doc as Partial<ArmorProfileModel> | null;
  if (!m || m.kind !== 'ArmorProfileModel' || !m.data) {
    throw new Error(`${path} is not an ArmorProfileModel (kind: ${JSON.stringify(m?.kind)})`);
  }
  return m as ArmorProfileModel;
}
