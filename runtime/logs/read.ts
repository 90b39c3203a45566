// Readers for `hamod logs MODULE [-n N] [-f]`: the last lines of a module's log (across rotated
// files) and tail -f that follows the file through rotations (by inode) and truncation.
import { watch } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { logPath } from './module-log.js';

const CHUNK = 64 * 1024;

/** Last `lines` complete lines of the module's log, oldest first, reading `.1`, `.2`… when needed. */
export async function readLog(dir: string, module: string, opts: { lines: number }): Promise<string[]> {
  return readFrom(logPath(dir, module), 0, Math.max(0, Math.floor(opts.lines)));
}

/** The last `want` lines of the files `base` (index 0), `base.1`, … starting at index `first`. */
async function readFrom(base: string, first: number, want: number): Promise<string[]> {
  let out: string[] = [];
  for (let i = first; out.length < want; i++) {
    const path = i === 0 ? base : `${base}.${i}`;
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (i === 0) continue; // the current file may be missing just after a rotation
        break;
      }
      throw err;
    }
    try {
      const { size } = await fh.stat();
      out = [...(await tailLines(fh, size, want - out.length)), ...out];
    } finally {
      await fh.close();
    }
  }
  return out;
}

/** The last `n` complete lines of `fh[0, end)`; a trailing partial line is ignored. */
async function tailLines(fh: FileHandle, end: number, n: number): Promise<string[]> {
  if (n <= 0 || end <= 0) return [];
  const chunks: Buffer[] = [];
  let pos = end;
  let newlines = 0;
  // Read backwards until n + 1 newlines are seen (the first one bounds the oldest wanted line).
  while (pos > 0 && newlines <= n) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    const got = buf.subarray(0, bytesRead);
    for (const b of got) if (b === 0x0a) newlines++;
    chunks.unshift(got);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const lastNl = text.lastIndexOf('\n');
  if (lastNl === -1) return [];
  const lines = text.slice(0, lastNl).split('\n');
  if (pos > 0) lines.shift(); // may be cut at the front
  return lines.slice(-n);
}

/** Offset just after the last newline of the file (0 if none): where complete lines end. */
async function lastLineEnd(fh: FileHandle): Promise<number> {
  let pos = (await fh.stat()).size;
  const buf = Buffer.alloc(4096);
  while (pos > 0) {
    const len = Math.min(buf.length, pos);
    const { bytesRead } = await fh.read(buf, 0, len, pos - len);
    const i = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (i !== -1) return pos - len + i + 1;
    pos -= len;
  }
  return 0;
}

export interface FollowOptions {
  /** Emit the last N lines first (gapless with what follows). Default 0: only new lines. */
  initialLines?: number;
  /** Polling period; a directory watch also triggers reads at once when available. Default 200 ms. */
  pollMs?: number;
}

/**
 * tail -f: calls `onLines` with each batch of complete lines appended to the module's log, following
 * the name across rotations (the old file is read to its end before switching) and truncation.
 * Resolves when `signal` aborts.
 */
export async function followLog(
  dir: string,
  module: string,
  onLines: (lines: string[]) => void,
  signal: AbortSignal,
  opts: FollowOptions = {},
): Promise<void> {
  const path = logPath(dir, module);
  const pollMs = opts.pollMs ?? 200;
  // The file being read: identified by its inode, read at `pos`; `partial` holds an unfinished line.
  const cur: { fh: FileHandle | null; ino: number; pos: number; partial: Buffer } = { fh: null, ino: -1, pos: 0, partial: Buffer.alloc(0) };

  const emit = (buf: Buffer): void => {
    const all = cur.partial.length ? Buffer.concat([cur.partial, buf]) : buf;
    const lastNl = all.lastIndexOf(0x0a);
    if (lastNl === -1) {
      cur.partial = all;
      return;
    }
    cur.partial = Buffer.from(all.subarray(lastNl + 1));
    const lines = all.subarray(0, lastNl).toString('utf8').split('\n');
    if (!signal.aborted) onLines(lines);
  };

  const readToEnd = async (fh: FileHandle): Promise<void> => {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, cur.pos);
      if (bytesRead === 0) return;
      cur.pos += bytesRead;
      emit(Buffer.from(buf.subarray(0, bytesRead)));
    }
  };

  const openCurrent = async (): Promise<FileHandle | null> => {
    try {
      const fh = await open(path, 'r');
      Object.assign(cur, { fh, ino: (await fh.stat()).ino, pos: 0, partial: Buffer.alloc(0) });
      return fh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };

  const step = async (): Promise<void> => {
    const fh = cur.fh ?? (await openCurrent());
    if (!fh) return;
    await readToEnd(fh);
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // renamed away; the new file comes soon
      throw err;
    }
    if (st.ino !== cur.ino) {
      await readToEnd(fh); // lines written to the old file just before the rotation
      if (cur.partial.length) emit(Buffer.from('\n'));
      cur.fh = null;
      await fh.close();
      const next = await openCurrent();
      if (next) await readToEnd(next);
    } else if (st.size < cur.pos) {
      cur.pos = 0; // truncated
      cur.partial = Buffer.alloc(0);
    }
  };

  // Start at the end of the current file, after emitting the lines before that point if asked.
  const first = await openCurrent();
  const n = Math.max(0, Math.floor(opts.initialLines ?? 0));
  if (first) {
    const size = await lastLineEnd(first);
    if (n > 0) {
      let initial = await tailLines(first, size, n);
      if (initial.length < n) initial = [...(await readFrom(path, 1, n - initial.length)), ...initial];
      if (initial.length) onLines(initial);
    }
    cur.pos = size;
  } else if (n > 0) {
    const initial = await readFrom(path, 1, n);
    if (initial.length) onLines(initial);
  }
  let running: Promise<void> | null = null;
  let again = false;
  const run = (): void => {
    if (signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = step()
      .catch(() => undefined) // transient errors (a file renamed under us): the next poll retries
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(run, pollMs);
    let watcher: ReturnType<typeof watch> | null = null;
    try {
      watcher = watch(dir, { persistent: false }, (_ev, name) => {
        if (name === null || String(name).startsWith(`${module}.log`)) run();
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = null; // polling only
    }
    const stop = (): void => {
      clearInterval(timer);
      watcher?.close();
      resolve();
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    run();
  });
  await running;
  const fh = cur.fh as FileHandle | null;
  cur.fh = null;
  await fh?.close().catch(() => undefined);
}
