import type { ConnectFailure } from '../sdk/grove-client.js';

const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL']);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EHOSTDOWN',
]);
/** The peer does not speak TLS (a plain ws:// or http:// port given as wss:// or https://). */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'EPROTO',
]);
/** The certificate is not trusted, or names another host. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
]);

const times = (n: number) => (n === 1 ? 'once' : `${n} times`);

/** One line about one relay, e.g. "cannot resolve relay ws://x:443 (getaddrinfo ENOTFOUND x; tried 4 times)". */
export function describeConnectFailure(failure: ConnectFailure): string {
  const { relay, attempts, reason, errorCode = '' } = failure;
  const tried = `tried ${times(attempts)}`;
  if (UNRESOLVED.has(errorCode)) return `cannot resolve relay ${relay} (${reason}; ${tried})`;
  if (UNREACHABLE.has(errorCode)) return `cannot reach relay ${relay} (${reason}; ${tried})`;
  if (NOT_TLS.has(errorCode)) {
    return (
      `TLS with relay ${relay} failed: it does not answer TLS on that port (${reason}; ${tried}); ` +
      'use ws:// (or http://) if it serves plain WebSocket, or the port where TLS ends'
    );
  }
  if (errorCode === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return (
      `TLS with relay ${relay} failed: its certificate is for other names (${reason}; ${tried}); ` +
      'use a URL with a name the certificate lists, or reissue the certificate with this one'
    );
  }
  if (
    UNTRUSTED.has(errorCode) ||
    errorCode.startsWith('ERR_TLS') ||
    errorCode.startsWith('CERT_')
  ) {
    return (
      `TLS with relay ${relay} failed: its certificate is not trusted (${errorCode}: ${reason}; ${tried}); ` +
      'trust the CA that signed it with --ca FILE (or GROVE_CA=FILE)'
    );
  }
  if (errorCode.startsWith('HTTP_')) {
    return `relay ${relay} answered HTTP ${errorCode.slice(5)} instead of Grove (${reason}; ${tried}): check the URL, the Ingress or the proxy in front of it`;
  }
  if (failure.closeCode >= 4000 && failure.closeCode < 4100) {
    return `relay ${relay} answered but asked to come back later (${reason}; ${tried})`;
  }
  return `cannot connect to relay ${relay} (${reason}; ${tried})`;
}

/** Every relay that failed, one sentence each; undefined when none did. */
export function describeConnectFailures(failures: readonly ConnectFailure[]): string | undefined {
  if (failures.length === 0) return undefined;
  return failures.map(describeConnectFailure).join('; ');
}
