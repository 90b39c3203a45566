// The semantic rules, run in order after schema validation succeeds.
import type { Rule } from './context.js';
import { modeFields } from './mode.js';
import { serviceHasCommand, uniqueNames } from './names.js';
import { addresses, parameterDefaults, ports } from './network.js';
import { replicatedDirs } from './overlap.js';
import { nameReferences, paramReferences } from './references.js';
import { checkerPolicy, dependencies } from './timing.js';

export const RULES: ReadonlyArray<readonly [string, Rule]> = [
  ['unique-names', uniqueNames],
  ['service-has-command', serviceHasCommand],
  ['mode-fields', modeFields],
  ['replicated-dirs', replicatedDirs],
  ['param-references', paramReferences],
  ['name-references', nameReferences],
  ['addresses', addresses],
  ['ports', ports],
  ['parameter-defaults', parameterDefaults],
  ['checker-policy', checkerPolicy],
  ['dependencies', dependencies],
];
