// `oomfleet agent run`: the supervisor in this process, the worker in a
// child it restarts. SIGTERM stops both and hands every memcg back to the
// kernel's OOM killer first.
import { Option, type Command } from 'commander';
import {
  CGROUP_MODES,
  controlPlaneOptions,
  DEFAULT_SOCKET_PATH,
  DEFAULT_STATE_DIR,
  runAgent,
  type RunFlags,
} from '../../agent/supervisor/run.ts';
import { ControlConfigError } from '../../agent/control/config.ts';
import { CliError, EXIT_USAGE } from '../errors.ts';
import type { Io } from '../output.ts';

export function addRunCommand(agent: Command, io: Io, setExit: (code: number) => void): void {
  agent
    .command('run')
    .description('run the agent: a supervisor and the worker that enforces the policy')
    .option('--policy <file>', 'a local policy, for machines without a control plane')
    .option(
      '--state-dir <dir>',
      'last-known-good policy, original settings, events',
      DEFAULT_STATE_DIR,
    )
    .option('--socket <path>', 'the local endpoint (root only)', DEFAULT_SOCKET_PATH)
    .option(
      '--cgroup-root <dir>',
      'the memory hierarchy (or a subtree of it) to manage; detected by default',
    )
    .addOption(
      new Option('--cgroup-mode <mode>', 'which hierarchy holds the memory controller')
        .choices(CGROUP_MODES)
        .default('auto'),
    )
    .option(
      '--control-plane <host:port>',
      "the control plane's gRPC address: enrol, take policies from it, report to it",
    )
    .option('--enrollment-token <token>', 'enrols this host at the first start (shows in ps)')
    .option('--enrollment-token-file <file>', 'the enrolment token, read from a file')
    .option(
      '--labels <k=v,...>',
      'labels this host enrols and connects with, e.g. zone=a,tier=batch',
    )
    .option(
      '--tls-ca <file>',
      "PEM CA bundle that signs the control plane's certificate (turns TLS on)",
    )
    .option('--tls-cert <file>', 'PEM client certificate, for mutual TLS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .action(async (o: RunFlags) => {
      try {
        controlPlaneOptions(o);
      } catch (err) {
        if (err instanceof ControlConfigError)
          throw new CliError(err.message, EXIT_USAGE, err.hint);
        throw err;
      }
      setExit(
        await runAgent(o, (l) => {
          io.err(l);
        }),
      );
    });
}
