// Where the agent keeps things on a host, unless told otherwise.
export const DEFAULT_STATE_DIR = '/var/lib/oomfleet';
/** The local endpoint: a Unix socket only root can open. */
export const DEFAULT_SOCKET_PATH = '/run/oomfleet/agent.sock';
