// Line handling shared by the supervisor (process output arrives in arbitrary chunks) and the module
// log (one record per line). Pure and synchronous: no I/O here.

/** Longest line written as one record; longer lines are split into several records. */
export const MAX_LINE_BYTES = 16 * 1024;

/** Where a captured line came from. `event` marks the agent's own transitions. */
export type LogStream = 'stdout' | 'stderr' | 'event';

/** What the supervisor writes to. Implemented by `ModuleLog` (file) and `MemorySink` (tests). */
export interface LogSink {
  /** One line of a service's output, without its newline. */
  line(service: string, stream: 'stdout' | 'stderr', text: string): void;
  /** An agent transition (started, exited, timed out, …) concerning this module. */
  event(text: string): void;
  /** From now on replace each of these values by `***` in every line written (empty values ignored). */
  redact(values: readonly string[]): void;
}

/** Where to cut `buf` at or before `end` (> 0) without splitting a UTF-8 sequence. */
function utf8Cut(buf: Buffer, end: number): number {
  if (end >= buf.length) return end;
  let cut = end;
  // Back off over continuation bytes (10xxxxxx), at most 3, so the piece ends on a character boundary.
  for (let i = 0; i < 3 && cut > 1 && ((buf[cut] ?? 0) & 0xc0) === 0x80; i++) cut--;
  return cut;
}

/**
 * Turns a byte stream into lines: partial lines are kept until their newline arrives or `flush()`;
 * a line longer than `maxLineBytes` is emitted in pieces (not cutting a UTF-8 character inside a
 * chunk), so the memory held per stream is bounded by `maxLineBytes`. A trailing `\r` is removed.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly onLine: (text: string) => void,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer | string): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    while (buf.length > 0) {
      const room = this.maxLineBytes - this.pendingBytes;
      const nl = buf.indexOf(0x0a);
      if (nl !== -1 && nl <= room) {
        this.append(buf.subarray(0, nl));
        this.emit();
        buf = buf.subarray(nl + 1);
      } else if (buf.length <= room) {
        this.append(buf);
        return;
      } else if (room === 0) {
        this.emit();
      } else {
        const cut = utf8Cut(buf, room);
        this.append(buf.subarray(0, cut));
        this.emit();
        buf = buf.subarray(cut);
      }
    }
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pending.push(piece);
    this.pendingBytes += piece.length;
  }

  /** Emits the partial line, if any (end of stream, or an explicit flush). */
  flush(): void {
    if (this.pendingBytes > 0) this.emit();
  }

  private emit(): void {
    let text = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    this.onLine(text);
  }
}

/** Splits text that may contain newlines and over-long lines into records of at most `maxLineBytes`. */
export function splitText(text: string, maxLineBytes = MAX_LINE_BYTES): string[] {
  const out: string[] = [];
  const splitter = new LineSplitter((l) => out.push(l), maxLineBytes);
  splitter.push(text);
  splitter.flush();
  if (out.length === 0) out.push('');
  return out;
}

/** Replaces every occurrence of the given values by `***`, longest first (so a value containing another is hidden whole). */
export class Redactor {
  private values: string[] = [];

  add(values: readonly string[]): void {
    const all = new Set([...this.values, ...values.filter((v) => v.length > 0)]);
    this.values = [...all].sort((a, b) => b.length - a.length);
  }

  apply(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join('***');
    return out;
  }
}

/** `ISO-time service stream: text` followed by a newline. */
export function formatRecord(time: Date, service: string, stream: LogStream, text: string): string {
  return `${time.toISOString()} ${service} ${stream}: ${text}\n`;
}

export interface ParsedRecord {
  time: string;
  service: string;
  stream: string;
  text: string;
}

/** Inverse of `formatRecord` (for `hamod logs` filters and tests); null for a line not in that shape. */
export function parseRecord(line: string): ParsedRecord | null {
  const m = /^(\S+) (\S+) (\S+): (.*)$/s.exec(line);
  if (!m) return null;
  return { time: m[1] ?? '', service: m[2] ?? '', stream: m[3] ?? '', text: m[4] ?? '' };
}

/** Collects records in memory: for tests and for callers that do not want a file. */
export class MemorySink implements LogSink {
  readonly records: Array<{ service: string; stream: LogStream; text: string }> = [];
  private readonly redactor = new Redactor();

  line(service: string, stream: 'stdout' | 'stderr', text: string): void {
    for (const piece of splitText(text)) this.records.push({ service, stream, text: this.redactor.apply(piece) });
  }

  event(text: string): void {
    for (const piece of splitText(text)) this.records.push({ service: 'hamod', stream: 'event', text: this.redactor.apply(piece) });
  }

  redact(values: readonly string[]): void {
    this.redactor.add(values);
  }

  texts(stream?: LogStream): string[] {
    return this.records.filter((r) => stream === undefined || r.stream === stream).map((r) => r.text);
  }
}
