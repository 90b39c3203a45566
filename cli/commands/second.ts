import { moduleCommand } from '../module-command.js';

// A class made by moduleCommand (own static args/flags: oclif only reads own properties).
const Second = moduleCommand("second", "Make a node secondary.", "That node gives up the primary role and, if its changes diverged from the peer, accepts the peer's data (its own changes are dropped).");
export default Second;
