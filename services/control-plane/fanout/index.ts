export { ALL_HOSTS, createFanout, type Fanout, type FanoutOptions } from './fanout.ts';
