// Explicit command index (oclif "explicit" strategy): no directory scan at start-up.
import AgentCmd from './agent.js';
import Build from './build.js';
import ClusterAddNode from './cluster/add-node.js';
import ClusterInit from './cluster/init.js';
import ClusterShow from './cluster/show.js';
import Forcestop from './forcestop.js';
import Init from './init.js';
import Inspect from './inspect.js';
import KeysExport from './keys/export.js';
import KeysGenerate from './keys/generate.js';
import KeysList from './keys/list.js';
import Lint from './lint.js';
import Logs from './logs.js';
import ModuleAdd from './module/add.js';
import Prim from './prim.js';
import Restart from './restart.js';
import Resync from './resync.js';
import Second from './second.js';
import Start from './start.js';
import Status from './status.js';
import Stop from './stop.js';
import Swap from './swap.js';
import Verify from './verify.js';
import Witness from './witness.js';

export const COMMANDS = {
  agent: AgentCmd,
  build: Build,
  'cluster:add-node': ClusterAddNode,
  'cluster:init': ClusterInit,
  'cluster:show': ClusterShow,
  forcestop: Forcestop,
  init: Init,
  inspect: Inspect,
  'keys:export': KeysExport,
  'keys:generate': KeysGenerate,
  'keys:list': KeysList,
  lint: Lint,
  logs: Logs,
  'module:add': ModuleAdd,
  prim: Prim,
  restart: Restart,
  resync: Resync,
  second: Second,
  start: Start,
  status: Status,
  stop: Stop,
  swap: Swap,
  verify: Verify,
  witness: Witness,
};
