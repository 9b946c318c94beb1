import { ApplicationFailure } from '@temporalio/common';
import { asActivities, isDeterministicDatabaseError } from '../activities/attempt';
import { DATABASE_REJECTED } from '../domain/failures';

const pgError = (code: string) => Object.assign(new Error(`pg says ${code}`), { code });

describe('an activity whose write the database refuses', () => {
  it('fails for good, named, when retrying cannot change the answer (classes 22 and 23)', async () => {
    for (const code of ['22021', '22P02', '23505', '23514']) {
      const { write } = asActivities({ write: async () => Promise.reject(pgError(code)) });
      const failure = await write().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: DATABASE_REJECTED, nonRetryable: true });
      expect((failure as Error).message).toContain(`write: the database refused the write (${code})`);
    }
  });

  it('is retried as before when the answer may change (connections, serialization, deadlocks, timeouts)', async () => {
    for (const code of ['08006', '40001', '40P01', '57014', '53300', 'ECONNREFUSED']) {
      expect(isDeterministicDatabaseError(pgError(code))).toBe(false);
      const { write } = asActivities({ write: async () => Promise.reject(pgError(code)) });
      await expect(write()).rejects.toMatchObject({ code });
    }
  });

  it('answers what the activity answers', async () => {
    const { add } = asActivities({ add: async (a: number, b: number) => a + b });
    await expect(add(2, 3)).resolves.toBe(5);
  });
});
