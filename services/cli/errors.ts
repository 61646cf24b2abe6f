// Exit codes are part of the CLI's contract: scripts branch on them.
export const EXIT_OK = 0;
/** Invalid input, or a check that failed (an invalid policy, an unformatted file). */
export const EXIT_INVALID = 1;
/** The command line itself is wrong: unknown flag, missing argument. */
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_INVALID,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
