import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ManagerError } from '../errors.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One route: what it accepts and answers (validated with zod, and described in the OpenAPI document). */
export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType> {
  method: Method;
  /** Fastify path, e.g. /v1/admin/domains/:domain/members (a literal ":" written "::"). */
  url: string;
  summary: string;
  tag: 'admin' | 'client' | 'operations';
  security?: 'admin' | 'relayToken';
  body?: B;
  query?: Q;
  /** Status → response schema (null: no body). */
  responses: Record<number, z.ZodType | null>;
  /** Accepted request content types (default application/json). */
  contentTypes?: string[];
  bodyLimit?: number;
  /**
   * Requests per client address and minute (@fastify/rate-limit, checked before the body is
   * read); past it 429 RATE_LIMITED with Retry-After. `onExceeded` counts the refusals.
   */
  rateLimit?: { perMinute: number; onExceeded?: () => void };
  handler: (
    input: {
      body: z.output<B>;
      query: z.output<Q>;
      params: Record<string, string>;
      request: FastifyRequest;
    },
    reply: FastifyReply,
  ) => Promise<unknown>;
}

// Erased for storage in the table: each spec keeps its own types where it is written.
type AnySpec = RouteSpec<z.ZodType, z.ZodType>;

/** At most this many issues are listed, each path and message cut to this many characters. */
export const MAX_LISTED_ISSUES = 20;
export const MAX_ISSUE_TEXT = 300;

/** `text` cut to `max` characters, with an ellipsis when cut: what an answer echoes is bounded. */
export function bounded(text: string, max = MAX_ISSUE_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The validation error answer: the failing field paths with their messages, at most
 * MAX_LISTED_ISSUES of them and each cut to MAX_ISSUE_TEXT characters, so an answer never
 * echoes a large request back (`details.issueCount` says how many there were).
 */
export function validationError(where: 'body' | 'query', error: z.ZodError): ManagerError {
  const issues = error.issues.slice(0, MAX_LISTED_ISSUES).map((issue) => ({
    path: bounded([where, ...issue.path.map(String)].join('.')),
    message: bounded(issue.message),
  }));
  const more = error.issues.length - issues.length;
  return new ManagerError(
    'VALIDATION_FAILED',
    `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    { issues, ...(more > 0 ? { issueCount: error.issues.length } : {}) },
  );
}

function contentTypeOf(request: FastifyRequest): string | undefined {
  const header = request.headers['content-type'];
  return header?.split(';')[0]?.trim().toLowerCase();
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (
    (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined
  );
}

/** Registers routes with zod validation and keeps their specs for the OpenAPI document. */
export class RouteTable {
  readonly specs: AnySpec[] = [];

  /**
   * `authorizeAdmin` runs on routes with `security: 'admin'` in an onRequest hook, before the
   * body is read or parsed, so a caller without the right gets 401/403 whatever it sent and
   * whatever its size: anonymous bodies cost no parsing. A refused request that announced a
   * body is answered with `Connection: close`, so the rest of its body is never read either.
   */
  constructor(
    private readonly app: FastifyInstance,
    private readonly authorizeAdmin?: (
      request: FastifyRequest,
      method: Method,
      url: string,
    ) => Promise<unknown>,
  ) {}

  add<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodObject>(
    spec: RouteSpec<B, Q>,
  ): void {
    this.specs.push(spec);
    const accepted = spec.contentTypes ?? ['application/json'];
    const authorize = this.authorizeAdmin;
    this.app.route({
      method: spec.method,
      url: spec.url,
      ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
      ...(spec.rateLimit === undefined
        ? {}
        : {
            config: {
              rateLimit: {
                max: spec.rateLimit.perMinute,
                timeWindow: 60_000,
                ...(spec.rateLimit.onExceeded === undefined
                  ? {}
                  : { onExceeded: spec.rateLimit.onExceeded }),
              },
            },
          }),
      ...(spec.security !== 'admin' || authorize === undefined
        ? {}
        : {
            onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
              try {
                await authorize(request, spec.method, spec.url);
              } catch (error) {
                if (hasBody(request)) reply.header('connection', 'close');
                throw error;
              }
            },
          }),
      handler: async (request, reply) => {
        if (hasBody(request)) {
          const type = contentTypeOf(request);
          if (spec.body === undefined || type === undefined || !accepted.includes(type)) {
            throw new ManagerError(
              'UNSUPPORTED_MEDIA_TYPE',
              spec.body === undefined
                ? `${spec.method} ${spec.url} takes no body`
                : `send the body as ${accepted.join(' or ')}`,
            );
          }
        }
        let body: unknown = undefined;
        if (spec.body !== undefined) {
          const parsed = spec.body.safeParse(request.body);
          if (!parsed.success) throw validationError('body', parsed.error);
          body = parsed.data;
        }
        const querySchema = spec.query ?? z.strictObject({});
        const query = querySchema.safeParse(request.query ?? {});
        if (!query.success) throw validationError('query', query.error);
        return spec.handler(
          {
            body: body as z.output<B>,
            query: query.data as z.output<Q>,
            params: request.params as Record<string, string>,
            request,
          },
          reply,
        );
      },
    });
  }
}
