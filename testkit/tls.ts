// A throwaway PKI for TLS tests: a CA and the certificates it signs, made with the `openssl` CLI in a temp
// directory (EC P-256, valid for a day), so no key material lives in the repository.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface ThrowawayCa extends CertificateFiles {
  /** The CA's certificate, PEM: what a client must trust (NODE_EXTRA_CA_CERTS, redis-server's tls-ca-cert-file). */
  caFile: string;
  /** A certificate for a server reachable as `subjectAltNames` (e.g. `IP:127.0.0.1`, `DNS:localhost`). */
  issue(name: string, subjectAltNames: string[]): CertificateFiles;
}

export interface ThrowawayPki {
  readonly dir: string;
  /** A new self-signed CA. Call it twice for a CA the servers do not use (a "wrong CA"). */
  createCa(name: string): ThrowawayCa;
  /** Writes a file into the temp directory (an ACL file, say) and returns its path. */
  writeFile(name: string, content: string): string;
  cleanup(): void;
}

export function createThrowawayPki(): ThrowawayPki {
  const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  const path = (name: string) => join(dir, name);
  const openssl = (args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer | string }).stderr?.toString() ?? '';
      throw new Error(`openssl ${args[0]} failed (is openssl on the PATH?): ${stderr || (error as Error).message}`);
    }
  };
  const serial = () => `0x${randomBytes(8).toString('hex')}`;
  const newKeyArgs = (keyFile: string) => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];

  return {
    dir,
    createCa(name) {
      const caFile = path(`${name}.pem`);
      const caKey = path(`${name}.key`);
      openssl([
        'req',
        '-x509',
        ...newKeyArgs(caKey),
        '-out',
        caFile,
        '-days',
        '1',
        '-set_serial',
        serial(),
        '-subj',
        `/CN=${name} (throwaway test CA)`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      return {
        caFile,
        certFile: caFile,
        keyFile: caKey,
        issue(certName, subjectAltNames) {
          const keyFile = path(`${certName}.key`);
          const csrFile = path(`${certName}.csr`);
          const certFile = path(`${certName}.pem`);
          const extFile = path(`${certName}.ext`);
          writeFileSync(
            extFile,
            [
              'basicConstraints=critical,CA:FALSE',
              'keyUsage=critical,digitalSignature',
              'extendedKeyUsage=serverAuth,clientAuth',
              `subjectAltName=${subjectAltNames.join(',')}`,
            ].join('\n'),
          );
          openssl(['req', '-new', ...newKeyArgs(keyFile), '-out', csrFile, '-subj', `/CN=${certName}`]);
          openssl([
            'x509',
            '-req',
            '-in',
            csrFile,
            '-CA',
            caFile,
            '-CAkey',
            caKey,
            '-set_serial',
            serial(),
            '-days',
            '1',
            '-sha256',
            '-extfile',
            extFile,
            '-out',
            certFile,
          ]);
          return { certFile, keyFile };
        },
      };
    },
    writeFile(name, content) {
      writeFileSync(path(name), content, { mode: 0o600 });
      return path(name);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
