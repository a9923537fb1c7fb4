import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../../contracts/logger.js';

/** Where a relay's certificate and key are (a kubernetes.io/tls Secret mounted as files). */
export interface TlsFileSettings {
  certFile: string;
  keyFile: string;
  /** How often the files are read again to pick up a renewed certificate. */
  reloadIntervalMs: number;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** What the log says about a certificate: never the key. */
export function describeCertificate(cert: Buffer): Record<string, unknown> {
  try {
    const x509 = new X509Certificate(cert);
    return {
      subject: x509.subject.replace(/\n/g, ', '),
      subjectAltName: x509.subjectAltName ?? null,
      issuer: x509.issuer.replace(/\n/g, ', '),
      validTo: new Date(x509.validTo).toISOString(),
    };
  } catch {
    return {};
  }
}

function checked(material: TlsMaterial, settings: TlsFileSettings): TlsMaterial {
  try {
    // Fails on a key that does not match the certificate, or on files that are not PEM.
    createSecureContext({ cert: material.cert, key: material.key });
  } catch (error) {
    throw new Error(
      `TLS certificate ${settings.certFile} and key ${settings.keyFile} are not usable: ${(error as Error).message}`,
    );
  }
  return material;
}

/** Reads the certificate and key once, at start: a relay told to serve TLS must not start without. */
export function loadTlsFiles(settings: TlsFileSettings): TlsMaterial {
  let material: TlsMaterial;
  try {
    material = { cert: readFileSync(settings.certFile), key: readFileSync(settings.keyFile) };
  } catch (error) {
    throw new Error(`cannot read the TLS certificate or key: ${(error as Error).message}`);
  }
  return checked(material, settings);
}

const digest = (material: TlsMaterial) =>
  createHash('sha256').update(material.cert).update(material.key).digest('hex');

/**
 * Re-reads the files every reloadIntervalMs and, when they changed and still make a valid pair,
 * gives the server the new certificate: new connections get it, open ones keep theirs (no
 * client is disconnected). A Secret volume is updated by the kubelet atomically (both files at
 * once) within a minute or two of the Secret changing, e.g. by cert-manager. A broken pair is
 * logged and ignored: the relay keeps serving the last good certificate.
 */
export function reloadTlsFiles(
  server: TlsServer,
  settings: TlsFileSettings,
  initial: TlsMaterial,
  log: Logger,
): NodeJS.Timeout {
  let current = digest(initial);
  let failing: string | undefined;
  const timer = setInterval(() => {
    void (async () => {
      try {
        const material = checked(
          { cert: await readFile(settings.certFile), key: await readFile(settings.keyFile) },
          settings,
        );
        const next = digest(material);
        failing = undefined;
        if (next === current) return;
        server.setSecureContext({ cert: material.cert, key: material.key });
        current = next;
        log.info('reloaded the TLS certificate', describeCertificate(material.cert));
      } catch (error) {
        const message = (error as Error).message;
        if (failing === message) return;
        failing = message;
        log.warn('cannot reload the TLS certificate; serving the previous one', {
          error: message,
        });
      }
    })();
  }, settings.reloadIntervalMs);
  timer.unref();
  return timer;
}
