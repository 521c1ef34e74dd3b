/**
 * A one-line progress bar on stderr: rewritten in place with \r when the stream is a TTY, one
 * plain line per step otherwise (logs, CI, pipes).
 */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private done = 0;
  private readonly tty: boolean;
  private readonly t0 = performance.now();

  constructor(
    private readonly stream: ProgressStream,
    private total: number,
  ) {
    this.tty = stream.isTTY === true;
  }

  /** Changes the number of steps (cases skipped up front). */
  setTotal(total: number): void {
    this.total = total;
  }

  /** Announces the step about to run. */
  start(label: string): void {
    this.render(label, false);
  }

  /** Marks one step finished, with a short result. */
  step(label: string, result: string): void {
    this.done++;
    this.render(`${label}: ${result}`, true);
  }

  /** Ends the bar (a final newline on a TTY). */
  finish(summary: string): void {
    if (this.tty) this.stream.write(`\r\x1b[K${summary}\n`);
    else this.stream.write(`${summary}\n`);
  }

  private render(text: string, finished: boolean): void {
    const elapsed = ((performance.now() - this.t0) / 1000).toFixed(0);
    const counter = `${this.done}/${this.total}`;
    if (this.tty) {
      const width = 20;
      const filled = this.total > 0 ? Math.round((width * this.done) / this.total) : 0;
      const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
      const line = `[${bar}] ${counter} ${elapsed}s ${text}`;
      const cols = this.stream.columns !== undefined && this.stream.columns >= 40 ? this.stream.columns : 120;
      this.stream.write(`\r\x1b[K${line.length > cols - 1 ? line.slice(0, cols - 2) + '…' : line}`);
    } else if (finished) {
      this.stream.write(`[${counter} ${elapsed}s] ${text}\n`);
    }
  }
}
