// Module logs: the file writer used by the supervisor and the readers behind `hamod logs`.
export { MAX_LINE_BYTES, LineSplitter, MemorySink, Redactor, formatRecord, parseRecord, splitText } from './lines.js';
export type { LogSink, LogStream, ParsedRecord } from './lines.js';
export { ModuleLog, logPath } from './module-log.js';
export type { ModuleLogOptions, ModuleLogStats } from './module-log.js';
export { readLog, followLog } from './read.js';
export type { FollowOptions } from './read.js';
