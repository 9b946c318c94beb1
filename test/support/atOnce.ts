/**
 * Runs each write at once (each takes a connection of its own from the pool) and answers the refusals, as
 * "<SQLSTATE>: <message>": a race that a writer loses must not be one of them.
 */
export async function atOnce(writes: Array<() => Promise<unknown>>): Promise<string[]> {
  const refused: string[] = [];
  await Promise.all(
    writes.map((write) => write().catch((error: { code?: string; message: string }) => refused.push(`${error.code}: ${error.message}`))),
  );
  return refused;
}

/** The same write, `times` times at once. */
export function sameAtOnce(times: number, write: () => Promise<unknown>): Promise<string[]> {
  return atOnce(Array.from({ length: times }, () => write));
}
