import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { formatSettlementRow, SETTLEMENT_HEADER, settlementDay } from '../domain/settlement';
import type { Psp } from './types';

/** A PSP's settlement file for one UTC day (YYYY-MM-DD), line by line as the PSP lists its rows, header first. */
export async function* pspSettlementLines(psp: Psp, date: string): AsyncIterable<string> {
  yield SETTLEMENT_HEADER;
  for await (const row of psp.settlementRows(settlementDay(date))) yield formatSettlementRow(row);
}

/** The lines of a settlement file on this machine, read as a stream. A file that is not there throws before the first line. */
export async function* settlementFileLines(file: string): AsyncIterable<string> {
  const input = createReadStream(file, { encoding: 'utf8' });
  try {
    await once(input, 'open');
    yield* createInterface({ input, crlfDelay: Infinity });
  } finally {
    input.destroy();
  }
}

/**
 * Writes a PSP's settlement file for one UTC day (YYYY-MM-DD) to `file`, streaming rows to disk, and
 * answers the number of rows. The file appears whole or not at all (written beside, then renamed).
 */
export async function writeSettlementFile(psp: Psp, date: string, file: string): Promise<number> {
  await mkdir(path.dirname(file), { recursive: true });
  // Writers of the same file may run at once: each writes its own copy, and the last rename wins whole.
  const partial = `${file}.${randomUUID()}.partial`;
  const out = createWriteStream(partial);
  let lines = 0;
  for await (const line of pspSettlementLines(psp, date)) {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
    lines += 1;
  }
  out.end();
  await once(out, 'finish');
  await rename(partial, file);
  return lines - 1;
}
