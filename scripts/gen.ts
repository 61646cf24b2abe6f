// `npm run gen`: writes every generated file. `npm run gen -- --check` fails
// when regenerating would change a committed file (the test suite runs it).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { policyJsonSchema } from '../services/policy/schema.ts';
import { snapshotJsonSchema } from '../services/policy/snapshot.ts';
import { agentBundles } from './bundle-agent.ts';
import { prismaClientFiles, protoFiles } from './codegen.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function generatedFiles(): Record<string, string> {
  return {
    'schemas/policy.schema.json': `${JSON.stringify(policyJsonSchema(), null, 2)}\n`,
    'schemas/snapshot.schema.json': `${JSON.stringify(snapshotJsonSchema(), null, 2)}\n`,
    ...protoFiles(),
    ...prismaClientFiles(),
    // Last: the agent bundles include the generated protocol code.
    ...agentBundles(),
  };
}

function run(check: boolean): number {
  const stale: string[] = [];
  for (const [rel, text] of Object.entries(generatedFiles())) {
    const file = join(root, rel);
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    if (check) stale.push(rel);
    else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      console.log(`wrote ${rel}`);
    }
  }
  if (stale.length > 0) {
    console.error(`generated files are stale: ${stale.join(', ')}\nrun: npm run gen`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = run(process.argv.includes('--check'));
}
