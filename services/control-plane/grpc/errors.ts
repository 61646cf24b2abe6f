// A gRPC status with a message, thrown inside handlers and turned into the
// call's status; anything else (PostgreSQL down, a bug) becomes UNAVAILABLE
// for that call only.
import * as grpc from '@grpc/grpc-js';

export class GrpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GrpcError';
  }
}

export function toStatus(err: unknown): { code: grpc.status; details: string } {
  if (err instanceof GrpcError) return { code: err.code, details: err.message };
  return { code: grpc.status.UNAVAILABLE, details: 'control plane unavailable, retry' };
}

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}
