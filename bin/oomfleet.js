#!/usr/bin/env node
// The services are TypeScript run through tsx's loader, so `npx oomfleet`
// works straight after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../services/cli/run.ts');
