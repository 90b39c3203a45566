// Flags shared by the commands that talk to an agent.
import { Flags } from '@oclif/core';

export const dataDirFlag = () => Flags.string({ description: 'Agent data directory (default /var/lib/hamod or $HAMOD_DATA_DIR).' });
