import { managerErrors, type ManagerErrorCode } from '../contracts/errors/manager-errors.js';

/**
 * What the Manager throws for a refusal with a stable code (contracts/errors/manager-errors.ts);
 * the API answers it with the code's HTTP status.
 */
export class ManagerError extends Error {
  readonly status: number;
  constructor(
    readonly code: ManagerErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ManagerError';
    this.status = managerErrors[code].http;
  }
}
