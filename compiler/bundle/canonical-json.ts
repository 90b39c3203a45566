// Canonical JSON, the exact bytes we sign: object keys sorted (by UTF-16 code units, as in
// RFC 8785), no whitespace, numbers and strings as ECMAScript's JSON.stringify writes them. Only
// plain data is accepted: no undefined, functions, symbols, bigints, non-finite numbers, lone
// surrogates, class instances (Date, Map...) or cycles, so a value has exactly one encoding.

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

/** Deeper nesting is refused: nothing we sign needs it, and recursion must stay bounded. */
export const MAX_DEPTH = 64;

export function canonicalJson(value: unknown): string {
  return encode(value, '$', 0, new Set());
}

export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/**
 * Parses bytes that must already be canonical: valid UTF-8 (no BOM), valid JSON, and byte for
 * byte what canonicalJson would write for the parsed value (so no whitespace, no duplicate keys,
 * sorted keys, shortest number forms, minimal string escapes).
 */
export function parseCanonicalJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new CanonicalJsonError('is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CanonicalJsonError(`is not valid JSON (${(err as Error).message})`);
  }
  if (canonicalJson(value) !== text) throw new CanonicalJsonError('is not in canonical form');
  return value;
}

function encode(value: unknown, path: string, depth: number, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      if (/\p{Surrogate}/u.test(value)) throw new CanonicalJsonError(`${path} is a string with a lone surrogate`);
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path} is ${value}, which JSON cannot represent`);
      return JSON.stringify(value); // -0 becomes 0
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`${path} is ${typeof value}, which JSON cannot represent`);
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw new CanonicalJsonError(`${path} is nested deeper than ${MAX_DEPTH} levels`);
  if (ancestors.has(value)) throw new CanonicalJsonError(`${path} is a circular reference`);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      // Index by index, so a hole reads as undefined and is refused rather than skipped.
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) items.push(encode(value[i], `${path}[${i}]`, depth + 1, ancestors));
      return `[${items.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError(`${path} is not a plain object`);
    const keys = Object.keys(value).sort();
    const record = value as Record<string, unknown>;
    const parts = keys.map((k) => {
      if (/\p{Surrogate}/u.test(k)) throw new CanonicalJsonError(`${path} has a key with a lone surrogate`);
      return `${JSON.stringify(k)}:${encode(record[k], `${path}.${k}`, depth + 1, ancestors)}`;
    });
    return `{${parts.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}
