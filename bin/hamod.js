#!/usr/bin/env node
// Thin entry: oclif loads the explicit command index from dist/cli/commands.
import { execute } from '@oclif/core';
await execute({ dir: import.meta.url });
