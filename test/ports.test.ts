import { readFileSync } from 'node:fs';
import { freePorts, listenable } from '../dev/ports';

/**
 * The ports handed to processes started next (npm start's API, PostgreSQL, Temporal and its Web UI) come from
 * below the kernel's ephemeral range, where no outgoing connection or listen(0) can take them first.
 */
describe('freePorts', () => {
  it('answers distinct listenable ports below the ephemeral range, none of those to avoid', async () => {
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const avoid = new Set([10_000, 20_000, 30_000]);
    const ports = await freePorts(40, avoid);
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralLow);
      expect(avoid.has(port)).toBe(false);
      expect(await listenable(port)).toBe(true);
    }
  });
});
