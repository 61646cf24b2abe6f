// `oomfleet policy …`: work with policy documents on a workstation or in CI.
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import {
  canonicalJson,
  diffPolicies,
  evaluate,
  formatIssue,
  formatPolicyText,
  ImportError,
  importPolicy,
  loadPolicy,
  loadPolicyValue,
  loadSnapshotText,
  policyJsonSchema,
  snapshotJsonSchema,
  type ImportInput,
  type ImportSource,
  type LoadResult,
  type PolicyIssue,
} from '../../policy/index.ts';
import { CliError, EXIT_INVALID, EXIT_OK } from '../errors.ts';
import { json, paint, type Io } from '../output.ts';
import { readInput } from '../read-input.ts';
import { renderEvaluation } from '../render-evaluation.ts';

interface JsonFlag {
  json?: boolean;
}

function loadFile(file: string): LoadResult {
  return loadPolicy(readInput(file));
}

function reportIssues(io: Io, file: string, issues: PolicyIssue[]): void {
  for (const i of issues) {
    const text = formatIssue(i, file);
    io.err(i.severity === 'warning' ? paint(io, 'yellow', text) : paint(io, 'red', text));
  }
}

/** Loads a policy or throws with every issue printed: for commands that need a valid one. */
function requirePolicy(
  io: Io,
  file: string,
): LoadResult & Required<Pick<LoadResult, 'policy' | 'canonical' | 'digest'>> {
  const r = loadFile(file);
  if (!r.ok || !r.policy || !r.canonical || !r.digest) {
    reportIssues(io, file, r.issues);
    throw new CliError(
      `${file}: invalid policy (${r.issues.filter((i) => i.severity !== 'warning').length} errors)`,
    );
  }
  return r as LoadResult & Required<Pick<LoadResult, 'policy' | 'canonical' | 'digest'>>;
}

function validate(io: Io, files: string[], opts: JsonFlag): number {
  const results = files.map((file) => {
    try {
      return { file, ...loadFile(file) };
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      return {
        file,
        ok: false,
        issues: [
          { path: '', message: err.message, hint: err.hint ?? '', severity: 'error' as const },
        ],
      };
    }
  });
  if (opts.json) {
    io.out(
      json(
        results.map((r) => ({
          file: r.file,
          ok: r.ok,
          ...('digest' in r && r.digest
            ? { name: r.canonical?.metadata.name, digest: r.digest }
            : {}),
          issues: r.issues,
        })),
      ),
    );
  } else {
    for (const r of results) {
      reportIssues(io, r.file, r.issues);
      if (r.ok && 'digest' in r)
        io.out(
          `${paint(io, 'green', 'ok')}  ${r.file}  ${r.canonical?.metadata.name ?? ''}  ${r.digest ?? ''}`,
        );
      else io.out(`${paint(io, 'red', 'invalid')}  ${r.file}`);
    }
  }
  return results.every((r) => r.ok) ? EXIT_OK : EXIT_INVALID;
}

function fmt(io: Io, files: string[], opts: { write?: boolean; check?: boolean }): number {
  if (files.length > 1 && !opts.write && !opts.check)
    throw new CliError(
      'fmt prints one file to stdout',
      2,
      'give one file, or use --write or --check for several',
    );
  let status = EXIT_OK;
  for (const file of files) {
    const r = formatPolicyText(readInput(file));
    if (!r.ok || r.text === undefined) {
      reportIssues(io, file, r.issues);
      status = EXIT_INVALID;
      continue;
    }
    if (opts.check) {
      if (r.changed) {
        io.err(`${file}: not formatted (run oomfleet policy fmt --write ${file})`);
        status = EXIT_INVALID;
      }
    } else if (opts.write) {
      if (r.changed) {
        writeFileSync(file, r.text);
        io.out(`formatted ${file}`);
      }
    } else io.out(r.text);
  }
  return status;
}

function digest(io: Io, files: string[], opts: JsonFlag & { canonical?: boolean }): number {
  const out = files.map((file) => {
    const r = requirePolicy(io, file);
    return { file, name: r.canonical.metadata.name, digest: r.digest, canonical: r.canonical };
  });
  if (opts.canonical) {
    for (const o of out) io.out(canonicalJson(o.canonical));
    return EXIT_OK;
  }
  if (opts.json) io.out(json(out.map(({ file, name, digest: d }) => ({ file, name, digest: d }))));
  else for (const o of out) io.out(`${o.digest}  ${o.file}`);
  return EXIT_OK;
}

function diff(io: Io, a: string, b: string, opts: JsonFlag & { exitCode?: boolean }): number {
  const ra = requirePolicy(io, a);
  const rb = requirePolicy(io, b);
  const changes = diffPolicies(ra.canonical, rb.canonical);
  if (opts.json)
    io.out(
      json({ from: { file: a, digest: ra.digest }, to: { file: b, digest: rb.digest }, changes }),
    );
  else if (changes.length === 0) io.out(`no change in meaning (${ra.digest})`);
  else {
    io.out(
      `${a} (${ra.digest.slice(0, 19)}) → ${b} (${rb.digest.slice(0, 19)}): ${changes.length} change(s)`,
    );
    for (const c of changes) {
      const mark = c.kind === 'added' ? '+' : c.kind === 'removed' ? '-' : '~';
      io.out(
        `  ${paint(io, c.kind === 'added' ? 'green' : c.kind === 'removed' ? 'red' : 'yellow', mark)} ${c.summary}`,
      );
    }
  }
  return opts.exitCode && changes.length > 0 ? EXIT_INVALID : EXIT_OK;
}

function explain(io: Io, file: string, opts: JsonFlag & { snapshot: string }): number {
  const r = requirePolicy(io, file);
  const s = loadSnapshotText(readInput(opts.snapshot));
  if (!s.snapshot) {
    reportIssues(io, opts.snapshot, s.issues);
    throw new CliError(`${opts.snapshot}: invalid snapshot`);
  }
  const evaluation = evaluate(r.policy, s.snapshot, s.history);
  if (opts.json) io.out(json(evaluation));
  else renderEvaluation(io, evaluation, s.snapshot.hostname);
  return EXIT_OK;
}

function schema(io: Io, opts: { snapshot?: boolean }): number {
  io.out(json(opts.snapshot ? snapshotJsonSchema() : policyJsonSchema()));
  return EXIT_OK;
}

function importCmd(
  io: Io,
  files: string[],
  opts: JsonFlag & { from: ImportSource; cmdline?: string; name?: string; output?: string },
): number {
  const inputs: ImportInput[] = files.map((f) => ({ name: f, text: readInput(f) }));
  if (opts.cmdline !== undefined) inputs.push({ name: 'command line', text: opts.cmdline });
  if (inputs.length === 0)
    throw new CliError(
      'nothing to import',
      2,
      opts.from === 'earlyoom'
        ? 'give --cmdline "earlyoom -m 10 -s 10" or a file such as /etc/default/earlyoom'
        : `give the ${opts.from} configuration file(s)`,
    );
  let result;
  try {
    result = importPolicy(opts.from, inputs, opts.name ? { name: opts.name } : {});
  } catch (err) {
    if (err instanceof ImportError) throw new CliError(err.message, EXIT_INVALID, err.hint);
    throw err;
  }
  const check = loadPolicyValue(result.document);
  if (opts.json) {
    io.out(json({ ...result, valid: check.ok, digest: check.digest, issues: check.issues }));
  } else {
    const header = [
      `# Imported from ${opts.from} by oomfleet policy import.`,
      ...result.notes.map((n) => `# note: ${n}`),
      ...result.untranslated.map((u) => `# not translated: ${u.source}: ${u.item} — ${u.reason}`),
    ].join('\n');
    const text = `${header}\n${toYaml(result.document, { lineWidth: 100 })}`;
    if (opts.output) {
      writeFileSync(opts.output, text);
      io.out(`wrote ${opts.output}`);
    } else io.out(text);
    for (const u of result.untranslated)
      io.err(`not translated: ${u.source}: ${u.item} — ${u.reason}`);
  }
  if (!check.ok) {
    reportIssues(io, 'imported policy', check.issues);
    return EXIT_INVALID;
  }
  return EXIT_OK;
}

export function policyCommand(io: Io, setExit: (code: number) => void): Command {
  const cmd = new Command('policy').description(
    'validate, format, compare and explain OOM policy documents',
  );
  const jsonOpt = (): Option => new Option('--json', 'print machine-readable JSON');

  cmd
    .command('validate')
    .description('check policy files; every problem is reported with its path and line:column')
    .argument('<file...>', 'policy files (YAML or JSON; - for stdin)')
    .addOption(jsonOpt())
    .action((files: string[], o: JsonFlag) => {
      setExit(validate(io, files, o));
    });

  cmd
    .command('fmt')
    .description('rewrite policy files in canonical key order and units, keeping comments')
    .argument('<file...>', 'policy files')
    .option('-w, --write', 'rewrite the files in place')
    .option('--check', 'exit 1 if any file is not formatted')
    .action((files: string[], o: { write?: boolean; check?: boolean }) => {
      setExit(fmt(io, files, o));
    });

  cmd
    .command('digest')
    .description("print the sha256 digest of each policy's canonical form")
    .argument('<file...>', 'policy files')
    .addOption(jsonOpt())
    .option('--canonical', 'print the canonical JSON instead of the digest')
    .action((files: string[], o: JsonFlag & { canonical?: boolean }) => {
      setExit(digest(io, files, o));
    });

  cmd
    .command('diff')
    .description('what changed in meaning between two policy versions, in words')
    .argument('<a>', 'the old policy')
    .argument('<b>', 'the new policy')
    .addOption(jsonOpt())
    .option('--exit-code', 'exit 1 when the policies differ')
    .action((a: string, b: string, o: JsonFlag & { exitCode?: boolean }) => {
      setExit(diff(io, a, b, o));
    });

  cmd
    .command('explain')
    .description('evaluate a policy against a host snapshot: what fires, which victim, and why')
    .argument('<file>', 'policy file')
    .requiredOption(
      '--snapshot <file>',
      'snapshot JSON: one snapshot, or a list oldest first (the last is now)',
    )
    .addOption(jsonOpt())
    .action((file: string, o: JsonFlag & { snapshot: string }) => {
      setExit(explain(io, file, o));
    });

  cmd
    .command('schema')
    .description('print the JSON Schema of policy documents (for editors)')
    .option('--snapshot', 'print the host snapshot schema instead')
    .action((o: { snapshot?: boolean }) => {
      setExit(schema(io, o));
    });

  cmd
    .command('import')
    .description('translate an oomd, systemd-oomd or earlyoom configuration into a policy')
    .argument(
      '[file...]',
      'oomd JSON config; oomd.conf and unit files; or an earlyoom defaults file',
    )
    .addOption(
      new Option('--from <tool>', 'the tool the configuration is for')
        .choices(['oomd', 'systemd-oomd', 'earlyoom'])
        .makeOptionMandatory(),
    )
    .option('--cmdline <args>', 'an earlyoom command line, e.g. "-m 10 -s 10 --avoid ^sshd$"')
    .option('--name <name>', 'metadata.name of the policy')
    .option('-o, --output <file>', 'write the policy to a file')
    .addOption(jsonOpt())
    .action(
      (
        files: string[],
        o: JsonFlag & { from: ImportSource; cmdline?: string; name?: string; output?: string },
      ) => {
        setExit(importCmd(io, files, o));
      },
    );

  return cmd;
}
