// Generated code from the two contracts the parts share: the agent protocol
// (proto/ → services/proto, buf + ts-proto) and the storage schema
// (prisma/schema.prisma → the Prisma client). Both run offline: buf ships in
// its npm package, and `prisma generate` needs no schema engine (it is given
// a placeholder path, since the CLI insists on one).
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

export const PRISMA_CLIENT_DIR = 'services/control-plane/store/generated';
export const PROTO_OUT_DIR = 'services/proto';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** Runs fn with a temporary directory, removed afterwards. */
function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-gen-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function protoFiles(): Record<string, string> {
  return withTemp((out) => {
    execFileSync(bin('buf'), ['generate', '--output', out], { cwd: root, stdio: 'pipe' });
    const files: Record<string, string> = {};
    for (const f of filesUnder(join(out, PROTO_OUT_DIR)))
      files[join(PROTO_OUT_DIR, relative(join(out, PROTO_OUT_DIR), f))] = readFileSync(f, 'utf8');
    return files;
  });
}

export function prismaClientFiles(): Record<string, string> {
  return withTemp((tmp) => {
    // The schema at the same place relative to its output as in the
    // repository: the client embeds the schema text, output path included.
    mkdirSync(join(tmp, 'prisma'));
    const schema = join(tmp, 'prisma', 'schema.prisma');
    copyFileSync(join(root, 'prisma', 'schema.prisma'), schema);
    const placeholder = join(tmp, 'no-schema-engine');
    writeFileSync(placeholder, '');
    execFileSync(bin('prisma'), ['generate', '--schema', schema], {
      cwd: root,
      stdio: 'pipe',
      env: {
        ...process.env,
        PRISMA_SCHEMA_ENGINE_BINARY: placeholder,
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
    });
    const out = join(tmp, PRISMA_CLIENT_DIR);
    const files: Record<string, string> = {};
    for (const f of filesUnder(out))
      files[join(PRISMA_CLIENT_DIR, relative(out, f))] = readFileSync(f, 'utf8');
    return files;
  });
}
