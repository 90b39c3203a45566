// What every semantic rule receives: the validated definition, its YAML source for positions, and
// the diagnostic bag. Rules are small pure functions over this context.
import type { DiagnosticBag, DiagnosticInit } from '../diagnostics.js';
import type { DiagnosticCode } from '../codes.js';
import { fieldName, locate, type PathSegment, type YamlSource } from '../load/yaml-source.js';
import type { ModuleDefinition } from '../model.js';

export interface RuleContext {
  def: ModuleDefinition;
  src: YamlSource;
  bag: DiagnosticBag;
}

export type Rule = (ctx: RuleContext) => void;

/** Adds a diagnostic located at `path` in module.yaml. */
export function report(
  ctx: RuleContext,
  code: DiagnosticCode,
  path: PathSegment[],
  init: Omit<DiagnosticInit, 'file' | 'start' | 'end' | 'field'>,
  which: 'key' | 'value' = 'value',
): void {
  ctx.bag.add(code, { ...init, file: ctx.src.file, ...locate(ctx.src, path, which), field: fieldName(path) });
}
