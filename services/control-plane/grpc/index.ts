export { startGrpcServer, AGENT_SERVICE_NAME } from './server.ts';
export type { GrpcDeps, GrpcServer, ReportSink, TlsOptions } from './types.ts';
export { bearer, parseHostAuthorization } from './auth.ts';
