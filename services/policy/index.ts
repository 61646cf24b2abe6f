// The policy language: the only part every other part imports.
export * from './schema.ts';
export * from './units.ts';
export {
  compileGlob,
  globCoveredBy,
  normalizeGlob,
  GlobError,
  globWalkDeeper,
  globWalkStart,
  globWalkStep,
  type CgroupGlob,
  type GlobWalkState,
} from './glob.ts';
export {
  compileRegex,
  RegexError,
  MAX_CMDLINE,
  rememberSafeRegexes,
  safeRegexes,
} from './regex.ts';
export { parseText, MAX_DOCUMENT_BYTES, MAX_DEPTH, MAX_ALIASES, type SourceMap } from './parse.ts';
export { formatIssue, formatPath, type PolicyIssue } from './issues.ts';
export * from './model.ts';
export { canonicalJson, digestOf, loadPolicyValue, type LoadResult } from './load.ts';
export { loadPolicy } from './load-text.ts';
export { stableStringify } from './normalize.ts';
export * from './snapshot.ts';
export { loadSnapshotText, type SnapshotInput } from './snapshot-input.ts';
export * from './evaluator/index.ts';
export { diffPolicies, describeRule, describeCondition, type PolicyChange } from './diff.ts';
export { formatPolicyText } from './fmt.ts';
export {
  importPolicy,
  ImportError,
  type ImportInput,
  type ImportResult,
  type ImportSource,
  type Untranslated,
} from './import/index.ts';
