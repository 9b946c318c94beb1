/**
 * A progress bar on stderr, leaving stdout to the results. On a terminal it redraws one line a few times a
 * second; in a log (not a terminal) it writes a plain line every few seconds.
 */
export interface Progress {
  update(done: number, detail: string): void;
  finish(): void;
}

export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true;
  const startedAt = Date.now();
  let done = 0;
  let detail = '';
  const line = () => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
    if (!tty) return `${label}: ${done}/${total} ${detail} (${seconds} s)`;
    const width = 30;
    const filled = Math.round(fraction * width);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${detail} ${seconds}s`;
  };
  const draw = () => stream.write(tty ? `\r\x1b[K${line()}` : `${line()}\n`);
  const timer = setInterval(draw, tty ? 250 : 5_000);
  timer.unref();
  return {
    update(value, text) {
      done = value;
      detail = text;
    },
    finish() {
      clearInterval(timer);
      draw();
      if (tty) stream.write('\n');
    },
  };
}
