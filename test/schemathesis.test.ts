import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { installFromPyPI, type PinnedTool } from '../dev/pythonTools';
import { startSettle, type TestSettle } from './support/settle';

const run = promisify(execFile);

/** Schemathesis (PyPI) in a virtualenv of its own: its dependencies are not localstripe's. */
const SCHEMATHESIS: PinnedTool = { package: 'schemathesis', version: '4.32.5', command: 'schemathesis' };

/**
 * Schemathesis reads GET /openapi.json from a running Settle and sends requests made from it: valid ones,
 * and ones that break each schema (negative data), with and without the API key. Any 5xx, any answer
 * outside the document, any invalid request taken, or any route that answers without a key fails the run.
 */
let settle: TestSettle;
beforeAll(async () => {
  // A database of its own. Schemathesis reuses ids it reads in answers, and the shared database holds other
  // suites' checkouts whose workers have stopped: those answer 503 checkout_unresponsive, rightly.
  settle = await startSettle({ isolatedDatabase: true });
}, 120_000);
afterAll(() => settle?.stop());

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'missing_required_header',
  'ignored_auth',
];

it('finds no 5xx and no answer outside the document, on any route', async () => {
  const toolsDir = path.resolve(__dirname, '..', '.tools', 'schemathesis');
  const command = await installFromPyPI(toolsDir, SCHEMATHESIS);
  const reports = await mkdtemp(path.join(os.tmpdir(), 'settle-schemathesis-'));
  const args = [
    'run',
    `${settle.baseUrl}/openapi.json`,
    '--header',
    `Authorization: Bearer ${settle.apiKey}`,
    '--checks',
    CHECKS.join(','),
    '--phases',
    'examples,coverage,fuzzing',
    '--max-examples',
    process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '25',
    // One worker: with two threads, CPython 3.11's ast module (Hypothesis describes its filters with it)
    // fails now and then with "AST constructor recursion depth mismatch".
    '--workers',
    '1',
    '--request-timeout',
    '20',
    '--seed',
    process.env.SCHEMATHESIS_SEED ?? '1',
    '--report',
    'junit',
    '--report-dir',
    reports,
    '--no-color',
  ];
  const outcome = await run(command, args, { cwd: reports, maxBuffer: 64 * 1024 * 1024, timeout: 8 * 60_000, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: `${error.stdout ?? ''}\n${error.stderr ?? ''}` }),
  );
  if (outcome.code !== 0) {
    const junit = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
    throw new Error(`schemathesis failed (exit ${outcome.code}):\n${outcome.stdout.slice(-12_000)}\n${junit.slice(0, 4000)}`);
  }
  expect(outcome.stdout).toMatch(/passed/);
}, 10 * 60_000);
