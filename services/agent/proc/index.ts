// The global /proc driver.
export { createHostReader, type HostReaderOptions } from './reader.ts';
export { CLK_TCK, type MemoryHierarchyMode } from './parse.ts';
export type { HostReader, ProcessReadOptions } from './types.ts';
