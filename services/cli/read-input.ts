// Reading the files named on the command line, with errors that name the file.
import { readFileSync } from 'node:fs';
import { CliError } from './errors.ts';

export function readInput(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : (err as Error).message;
    throw new CliError(`${file}: ${why}`, 1, 'check the path');
  }
}
