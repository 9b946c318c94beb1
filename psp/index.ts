import type pg from 'pg';
import type { PspConfig } from '../config';
import { SeededFaultRates } from './faultRates';
import { SimulatedPsp } from './simulated';
import { createStripeClient, StripePsp } from './stripe';
import type { Psp } from './types';

/** The PSP named by configuration (PSP=simulated by default, PSP=stripe in production). */
export function createPsp(config: PspConfig, pool: pg.Pool): Psp {
  switch (config.kind) {
    case 'simulated':
      return new SimulatedPsp(pool, {
        latencyMs: config.latencyMs,
        fee: config.fee,
        seed: config.seed,
        ...(config.faults.length > 0
          ? {
              // One line per fault, so that whoever watches a run can tell what Settle was up against.
              randomFaults: new SeededFaultRates(config.faults, config.seed, (fault) =>
                console.log(`[settle] simulated PSP fault: ${fault.kind} ${fault.operation} ${fault.idempotencyKey} (call ${fault.attempt})`),
              ),
            }
          : {}),
      });
    case 'stripe':
      return new StripePsp(pool, createStripeClient(config));
  }
}
