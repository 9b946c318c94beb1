import { inflateSync } from 'node:zlib';
import { Canvas, crc32, drawChart, encodePng, ticks } from '../bench/chart';
import { parseOptions } from '../bench/options';
import { devServerArgs } from '../bench/stand';
import { Ends, floorEnded } from '../bench/load';
import { percentile, summarize, throughput } from '../bench/stats';

/** The chunks of a PNG, each with its CRC checked. */
function chunks(png: Buffer): Array<{ type: string; data: Buffer }> {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const found: Array<{ type: string; data: Buffer }> = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.subarray(offset + 4, offset + 8).toString('ascii');
    const data = png.subarray(offset + 8, offset + 8 + length);
    expect(png.readUInt32BE(offset + 8 + length)).toBe(crc32(png.subarray(offset + 4, offset + 8 + length)));
    found.push({ type, data });
    offset += 12 + length;
  }
  return found;
}

describe('percentiles', () => {
  it('answers the nearest-rank value, always one that was measured', () => {
    const values = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([10, 20, 30], 50)).toBe(20);
    expect(percentile([10, 20, 30], 99)).toBe(30);
    expect(percentile([7], 1)).toBe(7);
  });

  it('has no answer for no values, and refuses a percentile out of range', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarizes values in any order', () => {
    expect(summarize([5, 1, 4, 2, 3])).toEqual({ count: 5, min: 1, p50: 3, p95: 5, p99: 5, max: 5, mean: 3 });
    expect(summarize([]).count).toBe(0);
  });
});

describe('throughput', () => {
  it('counts the checkouts that ended between the first start after the warm-up and the last start', () => {
    // Two in flight, each taking 1 s; starts at 0, 0, 1, 1, 2, 2 (the first two are the warm-up).
    const samples = [0, 0, 1, 1, 2, 2].map((second) => ({ startedAt: second * 1000, endedAt: (second + 1) * 1000 }));
    const rate = throughput(samples, 2);
    expect(rate.windowMs).toBe(1000);
    expect(rate.steady).toBe(2); // the two that ended at 2 s
    expect(rate.overall).toBe(2); // six over 3 s
  });

  it('leaves out the tail, where fewer stay in flight', () => {
    // One slot runs 1 s checkouts back to back; the other holds one slow checkout to the end.
    const samples = [
      ...[0, 1, 2, 3].map((second) => ({ startedAt: second * 1000, endedAt: (second + 1) * 1000 })),
      { startedAt: 0, endedAt: 10_000 },
    ];
    expect(throughput(samples, 0)).toEqual({ steady: 1, overall: 0.5, windowMs: 3000 });
  });

  it('falls back to the overall rate with too few checkouts for a window, and ignores those that never ended', () => {
    expect(throughput([{ startedAt: 0, endedAt: 2000 }], 5)).toEqual({ steady: 0.5, overall: 0.5, windowMs: 0 });
    expect(throughput([{ startedAt: 0, endedAt: undefined }], 0).overall).toBe(0);
  });
});

describe('the PNG encoder', () => {
  it('computes the CRC of PNG chunks (the standard check value)', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('writes a PNG whose header, CRCs and pixels read back', () => {
    const pixels = new Uint8Array(3 * 2 * 3);
    pixels.set([255, 0, 0], 0); // top left red
    pixels.set([0, 0, 255], (1 * 3 + 2) * 3); // bottom right blue
    const png = encodePng(3, 2, pixels);
    const [header, ...rest] = chunks(png);
    expect(header!.type).toBe('IHDR');
    expect(header!.data.readUInt32BE(0)).toBe(3);
    expect(header!.data.readUInt32BE(4)).toBe(2);
    expect([...header!.data.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
    expect(rest.map((chunk) => chunk.type)).toEqual(['IDAT', 'IEND']);
    const raw = inflateSync(rest[0]!.data);
    expect(raw.length).toBe(2 * (1 + 3 * 3));
    expect(raw[0]).toBe(0);
    expect(raw[10]).toBe(0);
    expect([...raw.subarray(1, 10)]).toEqual([...pixels.subarray(0, 9)]);
    expect([...raw.subarray(11, 20)]).toEqual([...pixels.subarray(9, 18)]);
  });

  it('refuses pixels that do not fill the image', () => {
    expect(() => encodePng(2, 2, new Uint8Array(5))).toThrow(RangeError);
  });

  it('draws lines and text on the canvas, and a chart as a valid PNG', () => {
    const canvas = new Canvas(20, 20);
    canvas.line(0, 0, 19, 19, [0, 0, 0]);
    expect([...canvas.pixels.subarray((10 * 20 + 10) * 3, (10 * 20 + 10) * 3 + 3)]).toEqual([0, 0, 0]);
    expect(canvas.text(0, 0, 'AB', [0, 0, 0], 1)).toBe(12);

    const png = drawChart({
      title: 'test',
      xLabel: 'in flight',
      note: 'dashed: p99',
      panels: [
        { title: 'throughput', yLabel: 'per second', series: [{ label: 'a', color: [0, 0, 255], points: [{ x: 5, y: 1 }, { x: 20, y: 3 }] }] },
        { title: 'latency', yLabel: 'seconds', series: [{ label: 'a', color: [0, 0, 255], dashed: true, points: [{ x: 5, y: 2 }, { x: 20, y: Number.NaN }] }] },
      ],
    });
    expect(chunks(png).map((chunk) => chunk.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  });

  it('puts round tick marks up to at least the largest value', () => {
    expect(ticks(9.3)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(0.42)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(ticks(0)).toEqual([0, 1]);
  });
});

describe('bench options', () => {
  it('has defaults that finish in about a minute', () => {
    const options = parseOptions([], {});
    expect(options).toMatchObject({ checkouts: 100, orders: 3, concurrency: [20], warmup: undefined, pspLatencyMs: 20, floor: true, loadFraction: undefined });
    expect(options.servers.map((server) => server.name)).toEqual(['wal']);
  });

  it('takes flags over the environment, and sweeps a list of concurrencies', () => {
    const options = parseOptions(['--concurrency', '50,5,20', '--servers=sqlite,wal', '--no-floor', '--load-fraction', '0.8'], {
      BENCH_CONCURRENCY: '7',
      BENCH_CHECKOUTS: '40',
      SIMULATED_PSP_LATENCY_MS: '1500',
    });
    expect(options).toMatchObject({ concurrency: [5, 20, 50], checkouts: 40, pspLatencyMs: 1500, floor: false, loadFraction: 0.8 });
    expect(options.servers.map((server) => server.name)).toEqual(['sqlite', 'wal']);
  });

  it('runs a dev server with the SQLite pragmas given', () => {
    const [server] = parseOptions(['--servers', 'sqlite:journal_mode=WAL+synchronous=FULL'], {}).servers;
    expect(server).toMatchObject({ sqlite: 'file', pragmas: ['journal_mode=WAL', 'synchronous=FULL'] });
    expect(devServerArgs(server!, 7233, '/tmp/t.sqlite').join(' ')).toContain(
      '--db-filename /tmp/t.sqlite --sqlite-pragma journal_mode=WAL --sqlite-pragma synchronous=FULL',
    );
    expect(devServerArgs(parseOptions(['--servers', 'memory'], {}).servers[0]!, 7233, '/tmp/t.sqlite')).not.toContain('--db-filename');
    expect(() => parseOptions(['--servers', 'sqlite:journal_mode=WAL;DROP'], {})).toThrow(/PRAGMA=VALUE/);
  });

  it('names what is wrong', () => {
    expect(() => parseOptions(['--servers', 'fast'], {})).toThrow(/no server 'fast'/);
    expect(() => parseOptions(['--checkouts', '0'], {})).toThrow(/--checkouts must be an integer of at least 1/);
    expect(() => parseOptions(['--load-fraction', '1.5'], {})).toThrow(/--load-fraction/);
    expect(() => parseOptions(['--servers', 'external'], {})).toThrow(/TEMPORAL_ADDRESS/);
    expect(() => parseOptions(['--bogus'], {})).toThrow();
  });
});

describe('the ends of checkouts', () => {
  it('answers a waiter when its checkout ends, even when the end was reported before the wait', async () => {
    const ends = new Ends();
    const waited = ends.wait('a', 10_000);
    expect(ends.waited).toBe(1);
    expect(floorEnded('ended a 1234', ends)).toBe(true);
    await expect(waited).resolves.toEqual({ at: 1234, status: 'SUCCEEDED' });
    ends.report('b', { at: 5, status: 'FAILED' });
    await expect(ends.wait('b', 10_000)).resolves.toEqual({ at: 5, status: 'FAILED' });
    expect(ends.waited).toBe(0);
  });

  it('gives up on a checkout after its timeout, and reads only outcome lines', async () => {
    const ends = new Ends();
    await expect(ends.wait('slow', 10)).resolves.toMatchObject({ status: 'timeout' });
    expect(ends.waited).toBe(0);
    expect(floorEnded('2026-11-22T00:01:52.129Z [INFO] Worker state changed', ends)).toBe(false);
  });
});
