// A report batch the control plane refuses whole (not a host id, too many
// events): the gRPC server answers INVALID_ARGUMENT rather than queueing it.
export class InvalidReportError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidReportError';
  }
}
