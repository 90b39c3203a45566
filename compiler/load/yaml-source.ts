// module.yaml parsed with positions kept: every value can be traced back to its line:column so
// schema and rule diagnostics point at the exact key or value in the author's file.
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import type { DiagnosticBag, Position } from '../diagnostics.js';

export const MAX_DEPTH = 64;
export const MAX_ALIAS_COUNT = 100;

export type PathSegment = string | number;

export interface YamlSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  value: unknown;
}

export interface Span {
  start: Position;
  end: Position;
}

export function parseYamlSource(file: string, text: string, bag: DiagnosticBag): YamlSource | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, keepSourceTokens: false });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(Math.min(Math.max(offset, 0), text.length));
    return { line: p.line, column: p.col };
  };
  let fatal = false;
  for (const err of doc.errors) {
    const [a, b] = err.pos;
    const message = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const code = err.code === 'DUPLICATE_KEY' ? 'HM107' : err.code === 'MULTIPLE_DOCS' ? 'HM110' : err.code === 'RESOURCE_EXHAUSTION' ? 'HM105' : 'HM104';
    const msg = code === 'HM105' ? `nesting too deep for the parser (${message})` : message;
    bag.add(code, { file, start: pos(a), end: pos(b), message: msg });
    fatal = true;
  }
  for (const w of doc.warnings) {
    const [a, b] = w.pos;
    bag.add('HM104', { file, start: pos(a), end: pos(b), message: w.message.split('\n')[0]!, severity: 'warning' });
  }
  if (fatal) return undefined;
  const deep = findTooDeep(doc.contents);
  if (deep) {
    const r = deep.range ?? [0, 0, 0];
    bag.add('HM105', { file, start: pos(r[0]), end: pos(r[1]), message: `collections nested deeper than ${MAX_DEPTH} levels`, expected: `at most ${MAX_DEPTH} levels` });
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const alias = firstAlias(doc.contents);
    const r = alias?.range ?? [0, 0, 0];
    const msg = e instanceof ReferenceError && /alias/i.test(e.message)
      ? `aliases expand to too many nodes (limit ${MAX_ALIAS_COUNT}): possible "billion laughs" input`
      : `cannot read the document: ${e instanceof Error ? e.message : String(e)}`;
    bag.add(e instanceof ReferenceError ? 'HM106' : 'HM104', { file, start: pos(r[0]), end: pos(r[1]), message: msg });
    return undefined;
  }
  if (value === null || value === undefined) value = {};
  return { file, text, doc, lineCounter, value };
}

/** Iterative depth walk: never recurses, so hostile nesting cannot overflow the stack. */
function findTooDeep(root: unknown): Node | undefined {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [n, d] = stack.pop()!;
    if (!isCollection(n)) continue;
    if (d > MAX_DEPTH) return n;
    for (const item of n.items as unknown[]) {
      if (isPair(item)) {
        stack.push([item.key, d + 1], [item.value, d + 1]);
      } else stack.push([item, d + 1]);
    }
  }
  return undefined;
}

function firstAlias(root: unknown): Node | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const n = stack.pop();
    if (isAlias(n)) return n;
    if (isCollection(n)) for (const item of n.items as unknown[]) {
      if (isPair(item)) stack.push(item.value, item.key);
      else stack.push(item);
    }
  }
  return undefined;
}

/** Span of the node at `path`: the key (for `which: 'key'`) or the value; falls back to the nearest ancestor. */
export function locate(src: YamlSource, path: readonly PathSegment[], which: 'key' | 'value' = 'value'): Span {
  let node: unknown = src.doc.contents;
  let pair: Pair | undefined;
  let lastGood: { node: unknown; pair: Pair | undefined } = { node, pair: undefined };
  for (const seg of path) {
    if (isMap(node)) {
      const p = node.items.find((it) => isScalar(it.key) ? String(it.key.value) === String(seg) : false);
      if (!p) break;
      pair = p;
      node = p.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const v = node.items[seg];
      if (v === undefined) break;
      pair = undefined;
      node = v;
    } else break;
    lastGood = { node, pair };
  }
  const target = which === 'key' && lastGood.pair && isScalar(lastGood.pair.key) ? lastGood.pair.key : lastGood.node;
  const range = (target as { range?: [number, number, number] } | null)?.range
    ?? (lastGood.pair && isScalar(lastGood.pair.key) ? lastGood.pair.key.range : undefined)
    ?? [0, 0, 0];
  const toPos = (off: number): Position => {
    const p = src.lineCounter.linePos(off);
    return { line: p.line, column: p.col };
  };
  // Collections span many lines: point at their first line only.
  const end = isCollection(target) ? range[0] : range[1];
  return { start: toPos(range[0]), end: toPos(end) };
}

/** `services[0].start` from ['services', 0, 'start']. */
export function fieldName(path: readonly PathSegment[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s === '' ? '(module)' : s;
}
