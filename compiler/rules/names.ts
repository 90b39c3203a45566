// Names must be unique within each list, and a service needs something to run.
import type { Rule, RuleContext } from './context.js';
import { report } from './context.js';

function uniqueBy(ctx: RuleContext, list: unknown[] | undefined, listName: string, key: (item: never) => string | undefined, keyField: string): void {
  if (!list) return;
  const first = new Map<string, number>();
  list.forEach((item, i) => {
    const k = key(item as never);
    if (k === undefined) return;
    const prev = first.get(k);
    if (prev === undefined) first.set(k, i);
    else report(ctx, 'HM301', [listName, i, keyField], { message: `${listName}: "${k}" is already used by ${listName}[${prev}]`, actual: k, hint: 'give each item its own name' });
  });
}

export const uniqueNames: Rule = (ctx) => {
  const d = ctx.def;
  uniqueBy(ctx, d.services, 'services', (s: { name: string }) => s.name, 'name');
  uniqueBy(ctx, d.checkers, 'checkers', (s: { name: string }) => s.name, 'name');
  uniqueBy(ctx, d.dependencies, 'dependencies', (s: { name: string }) => s.name, 'name');
  uniqueBy(ctx, d.virtualIps, 'virtualIps', (s: { address: string }) => s.address, 'address');
  uniqueBy(ctx, d.loadBalancing?.rules, 'loadBalancing', (s: { name: string }) => s.name, 'name');
  // Directories share the path namespace with overlap checks (overlap.ts) - exact duplicates here.
  if (d.replication) {
    const first = new Map<string, number>();
    d.replication.directories.forEach((dir, i) => {
      const k = dir.path.replace(/\/+$/, '') || '/';
      const prev = first.get(k);
      if (prev === undefined) first.set(k, i);
      else report(ctx, 'HM301', ['replication', 'directories', i, 'path'], { message: `replicated directory "${dir.path}" is listed twice (see directories[${prev}])`, actual: dir.path });
    });
  }
};

export const serviceHasCommand: Rule = (ctx) => {
  ctx.def.services.forEach((s, i) => {
    if (s.run === undefined && s.start === undefined) {
      report(ctx, 'HM202', ['services', i], { message: `service "${s.name}" needs "run" (a supervised foreground process) or "start" (a one-shot start script)`, expected: 'a "run" or "start" field' }, 'key');
    }
  });
};
