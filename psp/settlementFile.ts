import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { formatSettlementRow, SETTLEMENT_HEADER, settlementDay } from '../domain/settlement';
import type { Psp } from './types';

/**
 * Writes a PSP's settlement file for one UTC day (YYYY-MM-DD) to `file`, streaming rows to disk, and
 * answers the number of rows. The file appears whole or not at all (written beside, then renamed).
 */
export async function writeSettlementFile(psp: Psp, date: string, file: string): Promise<number> {
  await mkdir(path.dirname(file), { recursive: true });
  // Runs for the same day may write at once: each writes its own copy, and the last rename wins whole.
  const partial = `${file}.${randomUUID()}.partial`;
  const out = createWriteStream(partial);
  let rows = 0;
  const write = async (line: string) => {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  };
  await write(SETTLEMENT_HEADER);
  for await (const row of psp.settlementRows(settlementDay(date))) {
    await write(formatSettlementRow(row));
    rows += 1;
  }
  out.end();
  await once(out, 'finish');
  await rename(partial, file);
  return rows;
}
