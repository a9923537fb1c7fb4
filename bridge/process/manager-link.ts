import { z } from 'zod';
import type { BridgeTokens } from './device-credentials.js';
import {
  restoreJobSchema,
  type RestoreJobForBridge,
  type RestoreProgress,
} from './restore-runner.js';

const TIMEOUT_MS = 15_000;
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** The Manager routes the bridge device calls with its relay token (docs/manager-api.md#data-bridge). */
export class ManagerLink {
  constructor(
    private readonly managerUrl: string,
    private readonly tokens: BridgeTokens,
  ) {}

  private async call<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    body?: unknown,
  ): Promise<T> {
    const response = await fetch(`${this.managerUrl.replace(/\/+$/, '')}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.tokens.current()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await response.text();
    if (text.length > MAX_ANSWER_BYTES) throw new Error(`${method} ${path}: answer over 4 MiB`);
    if (!response.ok) {
      throw new Error(
        `${method} ${path} answered ${String(response.status)}: ${text.slice(0, 300)}`,
      );
    }
    return schema.parse(text === '' ? undefined : JSON.parse(text));
  }

  /** Joins the workspaces the bridge's selection names that it never joined. */
  async sync(): Promise<{ workspaces: string[]; added: string[] }> {
    return this.call(
      'POST',
      '/v1/bridge/sync',
      z.looseObject({ workspaces: z.array(z.string()), added: z.array(z.string()) }),
    );
  }

  async restores(): Promise<RestoreJobForBridge[]> {
    return this.call('GET', '/v1/bridge/restores', z.array(restoreJobSchema).max(100));
  }

  async report(id: string, progress: RestoreProgress): Promise<void> {
    await this.call('POST', `/v1/bridge/restores/${encodeURIComponent(id)}`, z.unknown(), progress);
  }
}
