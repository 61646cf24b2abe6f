#!/usr/bin/env node
/* global process */
// The services are TypeScript run through tsx's loader, so `npx oomfleet`
// works straight after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const args = process.argv.slice(2);
// `agent run` becomes the long-lived supervisor: keep it small by not loading
// the CLI (and the policy language) when its flags are understood.
const lean =
  args[0] === 'agent' && args[1] === 'run' && !args.includes('--help') && !args.includes('-h')
    ? (await import('../services/agent/supervisor/main.ts')).parseRunFlags(args.slice(2))
    : undefined;
if (lean) {
  const { runAgent } = await import('../services/agent/supervisor/run.ts');
  process.exitCode = await runAgent(lean, (line) => process.stderr.write(`${line}\n`));
} else {
  await import('../services/cli/run.ts');
}
