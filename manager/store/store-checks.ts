import { dnsLabelPattern, idPattern } from '../../crds/common.js';
import type { ManagerErrorCode } from '../../contracts/errors/manager-errors.js';
import { ManagerError } from '../errors.js';

/**
 * The guards every store module applies before it builds a key or a record: names that go
 * into keys are checked here whoever calls the store (the API has checked its requests already;
 * the local stack's seeding and the tests call the store directly).
 */

export function fail(
  code: ManagerErrorCode,
  message: string,
  details?: Record<string, unknown>,
): never {
  throw new ManagerError(code, message, details);
}

export function checkDomain(domain: string): void {
  if (typeof domain !== 'string' || domain.length > 63 || !dnsLabelPattern.test(domain)) {
    fail('VALIDATION_FAILED', `invalid domain name ${JSON.stringify(domain)}`);
  }
}

export function checkId(id: string, what: string): void {
  if (typeof id !== 'string' || !idPattern.test(id)) {
    fail('VALIDATION_FAILED', `invalid ${what} id ${JSON.stringify(id)}`);
  }
}

export function checkName(name: string, what: string, max = 256): void {
  if (typeof name !== 'string' || name.length < 1 || name.length > max) {
    fail('VALIDATION_FAILED', `${what} must be 1-${max} characters`);
  }
}

export function byId<T extends { id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
