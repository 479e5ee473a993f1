import { formatDuration } from '../core/duration.js';
import type { ModelingStatus } from '../workflows/index.js';

/** One line of progress for a modeling run: phase, window, batches, events, node failures. */
export function progressLine(s: ModelingStatus, now: number): string {
  const total = s.window.end - s.window.start;
  const elapsed = Math.min(Math.max(now - s.window.start, 0), total);
  const width = 20;
  const filled = total > 0 ? Math.round((elapsed / total) * width) : width;
  const nodes = Object.values(s.nodes);
  const batches = nodes.reduce((n, x) => n + x.batches, 0);
  const events = nodes.reduce((n, x) => n + x.events, 0);
  const failed = nodes.filter((n) => n.state === 'failed').length;
  const storeErrors = nodes.filter((n) => n.storeError).length;
  const bar = s.phase === 'modeling' ? ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatDuration(elapsed)}/${formatDuration(total)}` : '';
  return `${s.phase}${bar} · ${nodes.length} node(s)${failed ? ` (${failed} failed)` : ''} · ${batches} batches · ${events.toLocaleString('en')} events${storeErrors ? ` · checkpoints failing on ${storeErrors} node(s), retrying` : ''}`;
}

/** Rewrites one status line on a terminal; prints a line every few seconds elsewhere. */
export class ProgressPrinter {
  private lastPrinted = 0;
  private lastLine = '';

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(line: string): void {
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}`);
    } else if (line !== this.lastLine && Date.now() - this.lastPrinted > 5000) {
      this.out.write(line + '\n');
      this.lastPrinted = Date.now();
    }
    this.lastLine = line;
  }

  done(): void {
    if (this.out.isTTY && this.lastLine) this.out.write('\n');
  }
}
