// Server credentials: plaintext, TLS, or mutual TLS, from PEM buffers.
import * as grpc from '@grpc/grpc-js';
import type { TlsOptions } from './types.ts';

export function serverCredentials(tls: TlsOptions | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (tls.requireClientCert && !tls.ca)
    throw new Error('tls.requireClientCert needs tls.ca to verify client certificates');
  return grpc.ServerCredentials.createSsl(
    tls.ca ?? null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    tls.requireClientCert ?? false,
  );
}
