import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The floor's activities do nothing of their own: the PSP calls wait as long as the simulated PSP would,
 * the database steps answer at once, but for the outcome, which is told to `ended` (as Settle's is written
 * to its database). What a checkout then costs is Temporal's share alone.
 */
export function createFloorActivities(pspLatencyMs: number, ended: (checkoutId: string) => void = () => undefined) {
  const psp = async (): Promise<void> => {
    if (pspLatencyMs > 0) await sleep(pspLatencyMs);
  };
  const database = async (): Promise<void> => undefined;
  return {
    authorize: psp,
    capture: psp,
    recordCheckout: database,
    setCheckoutStatus: database,
    completeCheckout: async (checkoutId: string): Promise<void> => ended(checkoutId),
    book: database,
  };
}

export type FloorActivities = ReturnType<typeof createFloorActivities>;
