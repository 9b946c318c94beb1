import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config';
import { checkApiKey, createApiKey, registerApiKey } from '../db/apiKeys';
import type { Pool } from '../db/pool';

/**
 * The API key `npm start` hands its user. With SETTLE_API_KEY, that key: registered if the database does not
 * know it, and never printed (its owner has it). Without, a development key kept in `<dataDir>/api-key`
 * (readable by its owner only), reused while the database still accepts it, made anew otherwise (a fresh
 * database, a revoked key), and printed at every start.
 */
export async function startApiKey(
  pool: Pool,
  options: { configured: string | undefined; dataDir: string },
): Promise<{ key: string; print: boolean; note?: string }> {
  if (options.configured) {
    const { outcome, record } = await registerApiKey(pool, options.configured, 'SETTLE_API_KEY (npm start)');
    if (outcome === 'revoked') throw new ConfigError(`Settle cannot start: SETTLE_API_KEY is API key ${record.id}, which was revoked; set another key, or unset it for a development key`);
    if (outcome === 'id_taken') throw new ConfigError(`Settle cannot start: SETTLE_API_KEY names API key id ${record.id}, which the database holds with another secret; set another key`);
    return { key: options.configured, print: false, note: outcome === 'registered' ? `registered SETTLE_API_KEY as API key ${record.id}` : undefined };
  }
  const file = path.join(options.dataDir, 'api-key');
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (kept && (await checkApiKey(pool, kept)).valid) return { key: kept, print: true };
  const { key, record } = await createApiKey(pool, 'development (npm start)');
  // Written whole under another name, then renamed: a start that dies half-way leaves the old file or the new.
  const staging = `${file}.${randomBytes(4).toString('hex')}`;
  await writeFile(staging, `${key}\n`, { mode: 0o600 });
  await chmod(staging, 0o600);
  await rename(staging, file);
  return { key, print: true, note: `made development API key ${record.id} (kept in ${file})` };
}
