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

/** The validation error answer: every failing field path with its message. */
export function validationError(where: 'body' | 'query', error: z.ZodError): ManagerError {
  const issues = error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  return new ManagerError(
    'VALIDATION_FAILED',
    `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues },
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
   * `authorizeAdmin` runs before any validation on routes with `security: 'admin'`, so a
   * caller without the right gets 401/403 whatever it sent.
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
    this.app.route({
      method: spec.method,
      url: spec.url,
      ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
      handler: async (request, reply) => {
        if (spec.security === 'admin') await this.authorizeAdmin?.(request, spec.method, spec.url);
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
