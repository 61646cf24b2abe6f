// Gives OOM handling back to the kernel on every memcg the agent had taken it
// from. The supervisor runs this after its worker died, so it must be fast,
// must not need the driver or the policy language, and must not trust the
// state file further than it has to: only node:fs, plain writes of "0".
import {
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';

export const STATE_FILE = 'state.json';
export const PREVIOUS_FILE = 'state.json.prev';

export interface KernelOomRestore {
  /** memcg directories now at oom_kill_disable=0. */
  restored: string[];
  /** memcg directories that no longer exist (nothing to restore). */
  vanished: string[];
  failed: { path: string; error: string }[];
}

function listFrom(file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  if (parsed === null || typeof parsed !== 'object') return [];
  const list = (parsed as { oomKillDisabled?: unknown }).oomKillDisabled;
  return Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string') : [];
}

/** O_WRONLY without O_CREAT: a directory that is no memcg gets no new file. */
function writeZero(file: string): void {
  const fd = openSync(file, constants.O_WRONLY);
  try {
    writeSync(fd, '0');
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes "0" to memory.oom_control of every memcg listed in the state's
 * oomKillDisabled. `statePath` is the state file or the state directory.
 * Entries of state.json.prev are included too: should state.json be corrupt,
 * the previous file still names every memcg the agent set earlier, and writing
 * 0 again to one already restored is harmless.
 */
export function restoreKernelOom(statePath: string): KernelOomRestore {
  let file = statePath;
  try {
    if (statSync(statePath).isDirectory()) file = join(statePath, STATE_FILE);
  } catch {
    // Missing: nothing was ever saved, so nothing to restore — handled below.
  }
  const paths = new Set([...listFrom(file), ...listFrom(`${file}.prev`)]);
  const out: KernelOomRestore = { restored: [], vanished: [], failed: [] };
  for (const dir of paths) {
    // Only absolute, normalised paths: a damaged entry must not make us write
    // "0" into some other file.
    if (!isAbsolute(dir) || normalize(dir) !== dir || dir.includes('\0')) {
      out.failed.push({ path: dir, error: 'not an absolute normalised path' });
      continue;
    }
    try {
      writeZero(join(dir, 'memory.oom_control'));
      out.restored.push(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT with the directory gone: the memcg was removed. With the
      // directory still there it is no memcg, which is a failure to report.
      if (code === 'ENOENT' && !existsSync(dir)) out.vanished.push(dir);
      else out.failed.push({ path: dir, error: code ?? (err as Error).message });
    }
  }
  return out;
}
