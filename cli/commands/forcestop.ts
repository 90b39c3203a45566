import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Forcestop = moduleCommand("forcestop", "Stop a module at once.", "Kills the module's services on that node without running stop scripts.");
export default Forcestop;
