// Checks shared by both drivers on what a caller asks to write, so that a
// wrong value fails here with a clear message instead of as a kernel EINVAL.
import { DriverError, type SettingName, type SettingValue } from './types.ts';

/** Settings that hold a boolean; every other one holds bytes or "max". */
const FLAGS: ReadonlySet<SettingName> = new Set<SettingName>(['oomGroup', 'oomKillDisable']);

export function isFlag(setting: SettingName): boolean {
  return FLAGS.has(setting);
}

/** A byte setting's value: a non-negative integer or "max". */
export function bytesValue(
  setting: SettingName,
  value: SettingValue,
  file: string,
): number | 'max' {
  if (value === 'max') return 'max';
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new DriverError(
    `${setting} must be a non-negative integer number of bytes or "max", got ${JSON.stringify(value)}`,
    file,
    'EINVAL',
  );
}

export function flagValue(setting: SettingName, value: SettingValue, file: string): boolean {
  if (typeof value === 'boolean') return value;
  throw new DriverError(
    `${setting} must be true or false, got ${JSON.stringify(value)}`,
    file,
    'EINVAL',
  );
}

/** The error for a setting the hierarchy cannot express; its message is the support note. */
export function unsupported(note: string | undefined, setting: SettingName, path: string): never {
  throw new DriverError(note ?? `${setting} is not supported`, path, 'ENOTSUP');
}
