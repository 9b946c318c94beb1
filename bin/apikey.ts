import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config';
import { createApiKey, isApiKeyName, listApiKeys, revokeApiKey, type ApiKeyRecord } from '../db/apiKeys';
import { pendingMigrations } from '../db/migrate';
import type { Pool } from '../db/pool';
import { openOperatorDatabase } from './database';

const USAGE = `usage:
  npm run apikey -- create --name <name>   make a key and print it, this once only
  npm run apikey -- list                   every key: id, name, prefix, created, revoked (never a secret)
  npm run apikey -- revoke <keyId>         the key is refused (401) from now on
Uses DATABASE_URL, else the embedded database of npm start.`;

const KEY_ID = /^[0-9a-f]{16}$/;

class UsageError extends Error {}

type Command = { name: 'create'; keyName: string } | { name: 'list' } | { name: 'revoke'; id: string } | { name: 'help' };

const OPTIONS = { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseCommand(args: string[]): Command {
  const { values, positionals } = parseOptions(args);
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') return { name: 'help' };
  if (values.name !== undefined && command !== 'create') throw new UsageError('--name applies to create only');
  switch (command) {
    case 'create':
      if (rest.length > 0) throw new UsageError(`create takes no arguments besides --name (got '${rest[0]}')`);
      if (values.name === undefined) throw new UsageError('create needs --name <name>: what the key is for, such as "checkout frontend"');
      if (!isApiKeyName(values.name)) throw new UsageError('--name must be 1-100 characters on one line, without leading or trailing spaces');
      return { name: 'create', keyName: values.name };
    case 'list':
      if (rest.length > 0) throw new UsageError(`list takes no arguments (got '${rest[0]}')`);
      return { name: 'list' };
    case 'revoke':
      if (rest.length !== 1) throw new UsageError('revoke takes one key id (npm run apikey -- list shows them)');
      if (!KEY_ID.test(rest[0]!)) throw new UsageError(`'${rest[0]}' is not a key id: 16 hex digits, as npm run apikey -- list shows them`);
      return { name: 'revoke', id: rest[0]! };
    case undefined:
      throw new UsageError('name a command');
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function formatList(keys: ApiKeyRecord[]): string {
  if (keys.length === 0) return 'no API keys (npm run apikey -- create --name <name> makes one)';
  const rows = [
    ['id', 'name', 'prefix', 'created', 'revoked'],
    ...keys.map((key) => [key.id, key.name, key.displayPrefix, key.createdAt.toISOString(), key.revokedAt?.toISOString() ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

async function run(command: Exclude<Command, { name: 'help' }>, pool: Pool): Promise<number> {
  switch (command.name) {
    case 'create': {
      const { key, record } = await createApiKey(pool, command.keyName);
      // Only the key on stdout, so that KEY=$(... create --name x) holds it; the note goes to the terminal.
      console.error(`API key ${record.id} ('${record.name}') created. It is shown this once only; Settle keeps only its hash:`);
      console.log(key);
      return 0;
    }
    case 'list':
      console.log(formatList(await listApiKeys(pool)));
      return 0;
    case 'revoke': {
      const record = await revokeApiKey(pool, command.id);
      if (!record) {
        console.error(`no API key with id ${command.id}`);
        return 1;
      }
      console.log(`API key ${record.id} ('${record.name}') revoked at ${record.revokedAt!.toISOString()}`);
      return 0;
    }
  }
}

/**
 * `npm run apikey`: creates, lists and revokes the API keys that every request but health and the Stripe
 * webhook must carry. Exits 0 when done, 1 when it could not be done, 2 on arguments it does not understand.
 */
async function main(): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    return 2;
  }
  if (command.name === 'help') {
    console.log(USAGE);
    return 0;
  }
  const database = await openOperatorDatabase(loadConfig(), 1);
  try {
    if ((await pendingMigrations(database.pool)).includes('010_api_keys.sql')) {
      throw new Error('the database has no API keys yet (migration 010_api_keys.sql); start Settle once (it migrates), then try again');
    }
    return await run(command, database.pool);
  } finally {
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof ConfigError ? error.message : `apikey could not run: ${(error as Error).message}`);
    process.exit(1);
  },
);
