#!/usr/bin/env node
/* global process */
// `agent run` starts the long-lived supervisor from its bundle
// (dist/agent/supervisor.mjs, built by `npm run gen`), which loads neither
// the CLI nor a TypeScript loader. Everything else is TypeScript run through
// tsx's loader, so `npx oomfleet` works straight after `npm ci`.
const args = process.argv.slice(2);
const agentRun =
  args[0] === 'agent' && args[1] === 'run' && !args.includes('--help') && !args.includes('-h');
// Flags the supervisor does not understand go to the full CLI, which explains them.
const supervisor = agentRun ? await import('../dist/agent/supervisor.mjs') : undefined;
const lean = supervisor?.parseRunFlags(args.slice(2));
if (supervisor && lean) {
  process.exitCode = await supervisor.runAgent(lean, (line) => process.stderr.write(`${line}\n`));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../services/cli/run.ts');
}
