import type { AdminTokenInfo } from '../model.js';

/** What an admin request wants to do: read or change, within a domain or server-wide. */
export type Access =
  | { kind: 'domain'; domain: string; write: boolean }
  | { kind: 'server'; write: boolean }
  /** Admin tokens: server-admin only, even to read. */
  | { kind: 'tokens' };

/**
 * The role rules of docs/manager-api.md: server-admin may do everything; domain-admin
 * everything within its domains; auditor only reads, within its domains (all when it lists none).
 */
export function allowed(token: AdminTokenInfo, access: Access): boolean {
  if (token.role === 'server-admin') return true;
  if (access.kind === 'tokens') return false;
  if (token.role === 'auditor') {
    if (access.write) return false;
    if (access.kind === 'server') return true;
    return token.domains.length === 0 || token.domains.includes(access.domain);
  }
  // domain-admin
  if (access.kind === 'server') return !access.write;
  return token.domains.includes(access.domain);
}

/** Whether the token sees every domain (lists and the audit log are not filtered). */
export function seesAllDomains(token: AdminTokenInfo): boolean {
  return token.role === 'server-admin' || (token.role === 'auditor' && token.domains.length === 0);
}

export function visibleDomain(token: AdminTokenInfo, domain: string): boolean {
  return seesAllDomains(token) || token.domains.includes(domain);
}
