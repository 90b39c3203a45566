import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Stop = moduleCommand("stop", "Stop a module on a node.", "Stops the module's services gracefully on that node; if it was primary, the other node takes over.");
export default Stop;
