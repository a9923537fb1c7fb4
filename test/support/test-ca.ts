import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, as files (the shape of a kubernetes.io/tls Secret mounted). */
export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
}

function openssl(args: string[], cwd: string): void {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (run.status !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed (${run.status}): ${run.stderr}`);
  }
}

/**
 * A throw-away certificate authority made with openssl (EC P-256, 2 days) in a temp folder,
 * and server certificates it signs: what a test needs to run relays with wss:// and clients
 * that trust only this CA.
 */
export class TestCa {
  private serial = 0;

  private constructor(
    readonly dir: string,
    /** The CA certificate's file and PEM text (what --ca / GROVE_CA take). */
    readonly certFile: string,
    readonly pem: string,
  ) {}

  static create(name = 'Grove Test CA'): TestCa {
    const dir = mkdtempSync(join(tmpdir(), 'grove-ca-'));
    try {
      openssl(
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          'ca.key',
          '-out',
          'ca.crt',
          '-days',
          '2',
          '-subj',
          `/CN=${name}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        dir,
      );
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const certFile = join(dir, 'ca.crt');
    return new TestCa(dir, certFile, readFileSync(certFile, 'utf8'));
  }

  /**
   * A server certificate for `names` (DNS names or IP addresses; the first is the CN), written as
   * `<label>.crt` and `<label>.key`.
   */
  issue(names: string[], name?: string): IssuedCertificate {
    const serial = ++this.serial;
    const label = name ?? `server-${serial}`;
    const san = names
      .map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`))
      .join(',');
    const ext = join(this.dir, `${label}.ext`);
    writeFileSync(
      ext,
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
    );
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${label}.key`,
        '-out',
        `${label}.csr`,
        '-subj',
        `/CN=${names[0] ?? 'localhost'}`,
      ],
      this.dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${label}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        String(1000 + serial),
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        `${label}.crt`,
      ],
      this.dir,
    );
    const certFile = join(this.dir, `${label}.crt`);
    return {
      certFile,
      keyFile: join(this.dir, `${label}.key`),
      cert: readFileSync(certFile, 'utf8'),
    };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
