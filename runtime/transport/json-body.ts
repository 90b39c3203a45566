// Reading a JSON message body with a size limit, for both ends of the peer API.
import type { IncomingMessage } from 'node:http';
import { PeerError } from './peer-error.js';

/**
 * The parsed JSON body of `msg`, or null when it has none. PeerError 413 BODY_TOO_LARGE past
 * `limit` bytes (declared or received), 415 when it is not declared as JSON, 400 BAD_JSON.
 */
export async function readJsonBody(msg: IncomingMessage, limit: number): Promise<unknown> {
  const declared = msg.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new PeerError(413, 'BODY_TOO_LARGE', `body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const raw = await readLimited(msg, limit);
  if (raw.length === 0) return null;
  const type = (msg.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new PeerError(415, 'UNSUPPORTED_MEDIA_TYPE', 'body must be application/json');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new PeerError(400, 'BAD_JSON', 'body is not valid JSON');
  }
}

function readLimited(msg: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      msg.off('data', onData);
      msg.off('end', onEnd);
      msg.off('error', onError);
      msg.off('aborted', onAborted);
      if (err !== null) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        finish(new PeerError(413, 'BODY_TOO_LARGE', `body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(null);
    const onError = (err: Error): void => finish(err);
    const onAborted = (): void => finish(new Error('connection closed before the whole body arrived'));
    msg.on('data', onData);
    msg.on('end', onEnd);
    msg.on('error', onError);
    msg.on('aborted', onAborted);
  });
}
