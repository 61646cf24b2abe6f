// Reads files of the repository for tests (kept out of services/policy, which does no I/O).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A file's text, by its path from the repository root. */
export function readRepoFile(relative: string): string {
  return readFileSync(fileURLToPath(new URL(`../../${relative}`, import.meta.url)), 'utf8');
}
