import type pg from 'pg';
import type { PspConfig } from '../config';
import { SimulatedPsp } from './simulated';
import { createStripeClient, StripePsp } from './stripe';
import type { Psp } from './types';

/** The PSP named by configuration (PSP=simulated by default, PSP=stripe in production). */
export function createPsp(config: PspConfig, pool: pg.Pool): Psp {
  switch (config.kind) {
    case 'simulated':
      return new SimulatedPsp(pool, { latencyMs: config.latencyMs, fee: config.fee });
    case 'stripe':
      return new StripePsp(pool, createStripeClient(config));
  }
}
