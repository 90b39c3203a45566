import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Prim = moduleCommand("prim", "Make a node primary.", "Asks that node to become primary; refused when its data is stale, unless --force.");
export default Prim;
