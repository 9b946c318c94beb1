import type pg from 'pg';
import type { Config } from '../config';
import { SimulatedPsp } from './simulated';
import type { Psp } from './types';

/** The PSP named by configuration (PSP=simulated by default). */
export function createPsp(config: Config['psp'], pool: pg.Pool): Psp {
  switch (config.kind) {
    case 'simulated':
      return new SimulatedPsp(pool, { latencyMs: config.latencyMs });
  }
}
