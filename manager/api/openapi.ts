import { z } from 'zod';
import type { RouteSpec } from './route-table.js';
import { errorBody } from './schemas.js';

type AnySpec = RouteSpec<z.ZodType, z.ZodType>;

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

/** Fastify's `:param` (and `::` for a literal colon) to OpenAPI's `{param}`. */
export function openApiPath(url: string): { path: string; params: string[] } {
  const params: string[] = [];
  const path = url
    .split('::')
    .map((part) =>
      part.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
        params.push(name);
        return `{${name}}`;
      }),
    )
    .join(':');
  return { path, params };
}

/** The OpenAPI 3.1 document of the routes, generated from their zod schemas. */
export function openApiDocument(specs: readonly AnySpec[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const { path, params } = openApiPath(spec.url);
    const parameters: unknown[] = params.map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (spec.query !== undefined) {
      const query = jsonSchema(spec.query, 'input') as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({
          name,
          in: 'query',
          required: query.required?.includes(name) ?? false,
          schema,
        });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(spec.responses)) {
      responses[status] =
        schema === null
          ? { description: 'No content' }
          : {
              description: 'OK',
              content: { 'application/json': { schema: jsonSchema(schema, 'output') } },
            };
    }
    responses['default'] = {
      description: 'An error (docs/errors.md, section Manager)',
      content: { 'application/json': { schema: jsonSchema(errorBody, 'output') } },
    };
    const operation: Record<string, unknown> = {
      summary: spec.summary,
      tags: [spec.tag],
      parameters,
      responses,
      ...(spec.security === undefined ? {} : { security: [{ [spec.security]: [] }] }),
    };
    if (spec.body !== undefined) {
      const content: Record<string, unknown> = {};
      for (const type of spec.contentTypes ?? ['application/json']) {
        content[type] =
          type === 'application/json'
            ? { schema: jsonSchema(spec.body, 'input') }
            : { schema: { type: 'string' } };
      }
      operation['requestBody'] = { required: true, content };
    }
    (paths[path] ??= {})[spec.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Grove Manager API',
      version,
      description: 'Admin and client API of the Grove Manager (docs/manager-api.md).',
    },
    components: {
      securitySchemes: {
        admin: { type: 'http', scheme: 'bearer', description: 'An admin token.' },
        relayToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A relay token of an enrolled device.',
        },
      },
    },
    paths,
  };
}
