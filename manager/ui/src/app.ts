import type { DomainInfo, WhoAmI } from './api.js';
import { ApiError } from './api.js';
import { h, clear } from './dom.js';

/** What every page gets: who is signed in, the domains they see and the chosen one. */
export interface Context {
  me: WhoAmI;
  domains: DomainInfo[];
  /** The selected domain; '' when the token sees none. */
  domain: string;
  params: URLSearchParams;
  /** Re-renders the current page (after a change). */
  refresh: () => Promise<void>;
}

export type Page = (ctx: Context, view: HTMLElement) => Promise<void>;

/** Writes a message into the page's live region: screen readers announce it. */
export function notify(message: string, kind: 'ok' | 'error' = 'ok'): void {
  const region = document.getElementById('notice');
  if (region === null) return;
  clear(region);
  region.className = `notice ${kind}`;
  region.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  region.appendChild(h('p', {}, message));
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Runs an action from a form or button, reporting failure instead of losing it. */
export function guard(action: () => Promise<void>): () => void {
  return () => {
    action().catch((error: unknown) => notify(describeError(error), 'error'));
  };
}

export function errorBox(error: unknown): HTMLElement {
  return h('p', { class: 'notice error', role: 'alert' }, describeError(error));
}

export function canWrite(ctx: Context): boolean {
  return ctx.me.role !== 'auditor';
}
