// Per-module log file: `<dir>/<module>.log`, append-only, one record per line
// (`ISO-time service stream: text`), rotated by size to `<module>.log.1` … `.N`.
//
// The hot path (`line`, `event`) only formats and queues: no I/O, no sync calls. One asynchronous
// writer per file drains the queue in batches through a FileHandle. If the disk is slow or stuck the
// queue grows up to `maxQueuedBytes`; beyond that lines are dropped and counted (a notice records how
// many once writing resumes) rather than holding unbounded memory or blocking the services, whose
// pipes the supervisor keeps reading whatever happens here.
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { formatRecord, Redactor, splitText, type LogSink, type LogStream } from './lines.js';

export interface ModuleLogOptions {
  /** Rotate when the file would exceed this size. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`.1` newest … `.N` oldest). Default 5. */
  maxFiles?: number;
  /** Bytes waiting for the disk beyond which new lines are dropped. Default 4 MiB. */
  maxQueuedBytes?: number;
  /** Mode of the files created. Default 0o640. */
  mode?: number;
  /** Wall clock for the timestamps (tests). */
  now?: () => Date;
  /** Delay before retrying after a write error. Default 1000 ms. */
  retryMs?: number;
}

export interface ModuleLogStats {
  linesWritten: number;
  linesDropped: number;
  rotations: number;
  queuedBytes: number;
  lastError: string | null;
}

const MODULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const BATCH_BYTES = 256 * 1024;

export function logPath(dir: string, module: string): string {
  if (!MODULE_NAME.test(module)) throw new Error(`invalid module name for a log file: ${JSON.stringify(module)}`);
  return join(dir, `${module}.log`);
}

export class ModuleLog implements LogSink {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private readonly maxQueuedBytes: number;
  private readonly mode: number;
  private readonly now: () => Date;
  private readonly retryMs: number;
  private readonly redactor = new Redactor();

  private queue: string[] = [];
  private queueSizes: number[] = [];
  private queuedBytes = 0;
  private droppedSinceNotice = 0;
  private fh: FileHandle | null = null;
  private size = 0;
  private writing = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly counters = { linesWritten: 0, linesDropped: 0, rotations: 0 };
  private lastError: string | null = null;

  constructor(
    readonly dir: string,
    readonly module: string,
    opts: ModuleLogOptions = {},
  ) {
    this.path = logPath(dir, module);
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.maxFiles = Math.max(1, opts.maxFiles ?? 5);
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.mode = opts.mode ?? 0o640;
    this.now = opts.now ?? (() => new Date());
    this.retryMs = opts.retryMs ?? 1000;
  }

  line(service: string, stream: 'stdout' | 'stderr', text: string): void {
    this.record(service, stream, text);
  }

  event(text: string): void {
    this.record('hamod', 'event', text);
  }

  redact(values: readonly string[]): void {
    this.redactor.add(values);
  }

  stats(): ModuleLogStats {
    return { ...this.counters, queuedBytes: this.queuedBytes, lastError: this.lastError };
  }

  /** Resolves once everything queued so far is written (or dropped after an error). */
  flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes and closes the file; later lines are dropped. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const fh = this.fh;
    this.fh = null;
    await fh?.close().catch(() => undefined);
  }

  private record(service: string, stream: LogStream, text: string): void {
    if (this.closed) {
      this.counters.linesDropped++;
      return;
    }
    const time = this.now();
    for (const piece of splitText(text)) this.enqueue(formatRecord(time, service, stream, this.redactor.apply(piece)));
    this.kick();
  }

  private enqueue(rec: string): void {
    const bytes = Buffer.byteLength(rec);
    if (this.queuedBytes + bytes > this.maxQueuedBytes) {
      this.counters.linesDropped++;
      this.droppedSinceNotice++;
      return;
    }
    if (this.droppedSinceNotice > 0) {
      // Say where lines are missing, at the place they are missing.
      const n = this.droppedSinceNotice;
      this.droppedSinceNotice = 0;
      this.push(formatRecord(this.now(), 'hamod', 'event', `${n} line(s) dropped: the log writer fell behind`));
    }
    this.push(rec, bytes);
  }

  private push(rec: string, bytes = Buffer.byteLength(rec)): void {
    this.queue.push(rec);
    this.queueSizes.push(bytes);
    this.queuedBytes += bytes;
  }

  private kick(): void {
    if (this.writing || this.retryTimer || this.queue.length === 0) return;
    this.writing = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const fh = await this.ensureOpen();
        // Take whole lines that fit in the current file (at least one line into an empty file).
        let count = 0;
        let bytes = 0;
        while (count < this.queue.length) {
          const b = this.queueSizes[count] ?? 0;
          const fits = this.size + bytes + b <= this.maxBytes || (this.size === 0 && count === 0);
          if (!fits || (count > 0 && bytes + b > BATCH_BYTES)) break;
          bytes += b;
          count++;
        }
        if (count === 0) {
          await this.rotate();
          continue;
        }
        const batch = this.queue.slice(0, count).join('');
        try {
          await fh.write(batch);
          this.counters.linesWritten += count;
        } catch (err) {
          this.counters.linesDropped += count;
          throw err;
        } finally {
          this.queue.splice(0, count);
          this.queueSizes.splice(0, count);
          this.queuedBytes -= bytes;
        }
        this.size += bytes;
      }
      this.lastError = null;
    } catch (err) {
      this.lastError = (err as Error).message;
      const fh = this.fh;
      this.fh = null;
      await fh?.close().catch(() => undefined);
      if (!this.closed) {
        // Keep the queue (bounded) and try again later; a broken disk must not spin.
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, this.retryMs);
        this.retryTimer.unref();
      }
    } finally {
      this.writing = false;
      if (this.queue.length === 0 || this.retryTimer || this.closed) {
        if (this.closed || this.retryTimer) this.dropQueue();
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      } else {
        this.kick();
      }
    }
  }

  /** After an error, flush() callers are released; what is queued stays for the retry unless closed. */
  private dropQueue(): void {
    if (!this.closed) return;
    this.counters.linesDropped += this.queue.length;
    this.queue = [];
    this.queueSizes = [];
    this.queuedBytes = 0;
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    await mkdir(this.dir, { recursive: true, mode: 0o750 });
    const fh = await open(this.path, 'a', this.mode);
    try {
      const st = await fh.stat();
      if (st.size === 0) await fh.chmod(this.mode); // our file: the mode regardless of the umask
      this.size = st.size;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    this.fh = fh;
    return fh;
  }

  private async rotate(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
    for (let i = this.maxFiles - 1; i >= 1; i--) await renameIfExists(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    await renameIfExists(this.path, `${this.path}.1`);
    this.size = 0;
    this.counters.rotations++;
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
