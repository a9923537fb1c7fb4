import http from 'node:http';
import https from 'node:https';
import { getCACertificates, rootCertificates } from 'node:tls';

/** PEM certificate(s) of authorities to trust besides the default ones. */
export type ExtraCa = string | Buffer | readonly (string | Buffer)[];

/**
 * The default trust store plus `extra`: what a `ca` option must be given, since an explicit
 * `ca` replaces the defaults (NODE_EXTRA_CA_CERTS included) instead of adding to them.
 */
export function trustedCas(extra: ExtraCa): (string | Buffer)[] {
  const defaults =
    typeof getCACertificates === 'function' ? getCACertificates('default') : [...rootCertificates];
  const added = typeof extra === 'string' || Buffer.isBuffer(extra) ? [extra] : [...extra];
  return [...defaults, ...added];
}

export interface HttpAnswer {
  status: number;
  ok: boolean;
  /** The JSON body; {} when the body is empty or not JSON. */
  body: unknown;
}

export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/**
 * JSON over HTTP(S) for the long-poll transport: keep-alive agents of its own, and the extra
 * certificate authorities of the client (a relay certificate from a private CA). Network
 * errors reject with Node's error, whose `code` (ENOTFOUND, ECONNREFUSED, a TLS code) says why.
 */
export class HttpClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;
  private inFlight = 0;
  private closing = false;

  constructor(ca?: ExtraCa) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      ...(ca === undefined ? {} : { ca: trustedCas(ca) }),
    });
  }

  json(url: string, init: HttpRequestInit = {}): Promise<HttpAnswer> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
    this.inFlight++;
    const settled = () => {
      this.inFlight--;
      if (this.closing && this.inFlight === 0) this.destroy();
    };
    const answer = new Promise<HttpAnswer>((resolve, reject) => {
      const request = (secure ? https : http).request(
        target,
        {
          method: init.method ?? 'GET',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: {
            ...init.headers,
            ...(body === undefined ? {} : { 'content-length': String(body.length) }),
          },
          ...(init.signal === undefined ? {} : { signal: init.signal }),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = {};
            try {
              parsed = text === '' ? {} : JSON.parse(text);
            } catch {
              parsed = {};
            }
            const status = response.statusCode ?? 0;
            resolve({ status, ok: status >= 200 && status < 300, body: parsed });
          });
        },
      );
      request.on('error', reject);
      request.end(body);
    });
    answer.then(settled, settled);
    return answer;
  }

  /** Closes the keep-alive connections once the requests in flight (a last ack) are done. */
  close(): void {
    this.closing = true;
    if (this.inFlight === 0) this.destroy();
  }

  private destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
