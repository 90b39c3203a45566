import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Restart = moduleCommand("restart", "Restart a module in place.", "Stops then starts the module's services on that node without failing over.");
export default Restart;
