// Explicit command index (oclif "explicit" strategy): no directory scan at start-up.
import Build from './build.js';
import Init from './init.js';
import Inspect from './inspect.js';
import KeysExport from './keys/export.js';
import KeysGenerate from './keys/generate.js';
import KeysList from './keys/list.js';
import Lint from './lint.js';
import Verify from './verify.js';

export const COMMANDS = {
  build: Build,
  init: Init,
  inspect: Inspect,
  'keys:export': KeysExport,
  'keys:generate': KeysGenerate,
  'keys:list': KeysList,
  lint: Lint,
  verify: Verify,
};
