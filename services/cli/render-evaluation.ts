// An evaluation for people: the rule table, each rule's trace and victim
// choice, then the decisions. Shared by `policy explain` and `agent explain`.
import { describeTrace, type Evaluation } from '../policy/index.ts';
import { paint, table, type Io } from './output.ts';

export function renderEvaluation(io: Io, e: Evaluation, hostname: string | undefined): void {
  io.out(
    `policy ${e.policy.name} ${e.policy.digest.slice(0, 19)}… on ${hostname ?? 'snapshot'} at ${new Date(e.time).toISOString()}`,
  );
  io.out('');
  io.out(
    table(
      ['RULE', 'SCOPE', 'MATCHED', 'FIRED', 'OUTCOME'],
      e.rules.map((r) => [r.rule, r.scope, String(r.matched), String(r.fired.length), r.outcome]),
    ),
  );
  for (const r of e.rules) {
    io.out('');
    io.out(`rule ${paint(io, 'bold', r.rule)} (${r.scope}): ${r.outcome} — ${r.reason}`);
    for (const c of r.conditions) io.out(`  ${c.target}: ${describeTrace(c.trace)}`);
    const v = r.victim;
    if (!v) continue;
    if (v.chosen)
      io.out(
        `  victim: ${v.chosen.label} — ${v.strategy} among ${v.among}, ${v.chosen.score} (${v.chosen.tier})`,
      );
    for (const ru of v.runnersUp) io.out(`    not ${ru.label}: ${ru.whyNot ?? ''}`);
    for (const x of v.excluded)
      io.out(
        `    excluded ${x.count} × ${x.reason} (${x.examples.join(', ')}${x.count > x.examples.length ? ', …' : ''})`,
      );
  }
  io.out('');
  if (e.decisions.length === 0) io.out('decisions: none');
  else {
    io.out('decisions:');
    for (const d of e.decisions) io.out(`  ${d.enforce ? '' : '[dry-run] '}${d.trace.summary}`);
  }
}
