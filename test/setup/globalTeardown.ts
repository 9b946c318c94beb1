export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __settleStop?: () => Promise<void> }).__settleStop?.();
}
