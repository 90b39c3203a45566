import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Start = moduleCommand("start", "Start a module on a node.", "The node joins the module: it becomes primary or secondary as the other node and the data allow.");
export default Start;
