// Replicated directories must be absolute and must not contain one another.
import { posix } from 'node:path';
import { findRefs } from '../util/refs.js';
import type { Rule } from './context.js';
import { report } from './context.js';

export const replicatedDirs: Rule = (ctx) => {
  const dirs = ctx.def.replication?.directories ?? [];
  const norm: Array<string | undefined> = dirs.map((d, i) => {
    const literal = findRefs(d.path).length === 0;
    if (literal && !d.path.startsWith('/')) {
      report(ctx, 'HM205', ['replication', 'directories', i, 'path'], { message: `replicated directory "${d.path}" must be an absolute path`, expected: 'an absolute path such as /var/lib/app', actual: d.path });
      return undefined;
    }
    if (literal && (d.path.split('/').includes('..') || d.path.split('/').includes('.'))) {
      report(ctx, 'HM205', ['replication', 'directories', i, 'path'], { message: `replicated directory "${d.path}" must not contain "." or ".." segments`, actual: d.path });
      return undefined;
    }
    if (literal && posix.normalize(d.path) === '/') {
      report(ctx, 'HM205', ['replication', 'directories', i, 'path'], { message: 'the root directory cannot be replicated', actual: d.path });
      return undefined;
    }
    // With references, compare the written form: identical prefixes still overlap.
    return posix.normalize(d.path).replace(/\/+$/, '');
  });
  for (let i = 0; i < norm.length; i++) {
    for (let j = 0; j < norm.length; j++) {
      const a = norm[i];
      const b = norm[j];
      if (i === j || a === undefined || b === undefined || a === b) continue;
      if (b.startsWith(a + '/')) {
        report(ctx, 'HM303', ['replication', 'directories', j, 'path'], { message: `replicated directory "${dirs[j]!.path}" is inside "${dirs[i]!.path}" (directories[${i}])`, hint: 'replicate the parent only, with include/exclude patterns if needed' });
      }
    }
  }
};
