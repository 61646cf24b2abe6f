// The `oomfleet` command. Commander parses; each sub-command lives in
// commands/. Usage errors exit 2, invalid input or failed checks exit 1.
import { Command, CommanderError } from 'commander';
import { agentCommand } from './commands/agent.ts';
import { policyCommand } from './commands/policy.ts';
import { rolloutCommand } from './commands/rollout.ts';
import { serverCommand } from './commands/server.ts';
import { CliError, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from './errors.ts';
import { processIo, type Io } from './output.ts';

export const VERSION = '0.1.0';

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('oomfleet')
    .description('Fleet-wide OOM policy rollout: author, check and explain OOM policies.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // Root flags only before a subcommand: `rollout start --version 3` is the policy's version.
    .enablePositionalOptions();
  program.addCommand(policyCommand(io, setExit));
  program.addCommand(agentCommand(io, setExit));
  program.addCommand(serverCommand(io, setExit));
  program.addCommand(rolloutCommand(io, setExit));
  // Every command throws instead of exiting, so main() owns the exit code.
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({
      writeOut: (s) => {
        io.out(s);
      },
      writeErr: (s) => {
        io.err(s);
      },
    });
    c.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof CliError) {
      io.err(`oomfleet: ${err.message}${err.hint ? `\n    hint: ${err.hint}` : ''}`);
      return err.exitCode;
    }
    io.err(
      `oomfleet: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return EXIT_INVALID;
  }
}
