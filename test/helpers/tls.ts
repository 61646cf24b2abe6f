// Throwaway certificates for TLS tests, made with the `openssl` CLI in a
// temporary directory: a CA, a server certificate for 127.0.0.1/localhost, a
// client certificate from that CA, and a second, unrelated CA with a server
// and a client certificate of its own. remove() deletes the directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  /** The CA; ca.certFile is what clients and servers trust. */
  ca: Pem;
  /** For 127.0.0.1 and localhost, signed by ca. */
  server: Pem;
  /** A client certificate signed by ca. */
  client: Pem;
  /** An unrelated CA, with a server and a client certificate of its own. */
  otherCa: Pem;
  otherServer: Pem;
  otherClient: Pem;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function pem(dir: string, name: string): Pem {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
}

function makeCa(dir: string, name: string): Pem {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=oomfleet test ${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pem(dir, name);
}

function makeLeaf(dir: string, ca: string, name: string, usage: 'server' | 'client'): Pem {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(usage === 'server' ? ['subjectAltName=IP:127.0.0.1,DNS:localhost'] : []),
      '',
    ].join('\n'),
  );
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${usage === 'server' ? 'localhost' : `oomfleet test ${name}`}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-sha256',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    `${name}.crt`,
  ]);
  return pem(dir, name);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-pki-'));
  try {
    const ca = makeCa(dir, 'ca');
    const otherCa = makeCa(dir, 'other-ca');
    return {
      dir,
      ca,
      server: makeLeaf(dir, 'ca', 'server', 'server'),
      client: makeLeaf(dir, 'ca', 'client', 'client'),
      otherCa,
      otherServer: makeLeaf(dir, 'other-ca', 'other-server', 'server'),
      otherClient: makeLeaf(dir, 'other-ca', 'other-client', 'client'),
      remove: () => {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
