import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Swap = moduleCommand("swap", "Swap primary and secondary.", "The primary stops, the secondary (up to date) takes over, the former primary becomes secondary.");
export default Swap;
