// The simulator: simulated agents (one host or a fleet) that speak the agent
// protocol against a real control plane, and the workload model that turns
// the policy a host runs into outcome events.
export {
  mulberry32,
  newAgentClient,
  poisson,
  SimulatedHost,
  SIMULATOR_AGENT_VERSION,
  type AppliedPolicy,
  type HostIdentity,
  type OutcomeKind,
  type SimulatedHostOptions,
} from './host.ts';
export {
  defaultFleetLabels,
  startSimulatedFleet,
  type SimulatedFleet,
  type SimulatedFleetOptions,
} from './fleet.ts';
export { DEFAULT_WORKLOAD, ratesFor, type Rates, type Workload } from './workload.ts';
