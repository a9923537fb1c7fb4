import { z } from 'zod';

/**
 * The body of every HTTP error answer of the relay and the Manager:
 * `{"error":{"code","message","details"?}}`. Codes come from contracts/errors.
 */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function encodeErrorBody(
  code: string,
  message: string,
  details?: Record<string, unknown>,
): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** The error of an answer body; undefined when the body is not an error body. */
export function decodeErrorBody(json: unknown): ErrorBody['error'] | undefined {
  const parsed = errorBodySchema.safeParse(json);
  return parsed.success ? parsed.data.error : undefined;
}
