import { EventEmitter } from 'node:events';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import type { ConnectionRefused } from '../sdk/grove-client.js';
import { CliError } from './cli-error.js';
import {
  effectivePools,
  effectiveRelays,
  readDeviceState,
  signChallenge,
  stateFile,
  tokenIsFresh,
  writeDeviceState,
  type DeviceState,
} from './device-state.js';
import { ManagerClient, ManagerHttpError, ManagerUnreachable } from './manager-client.js';

/** Manager answers that no retry can change: the device must be re-enrolled or fixed. */
export function isPermanentRefusal(error: unknown): error is ManagerHttpError {
  if (!(error instanceof ManagerHttpError)) return false;
  // A replayed nonce only means a retry with a new one; 408/429 and 5xx are passing troubles.
  if (error.code === 'REPLAYED' || error.status === 408 || error.status === 429) return false;
  return error.status >= 400 && error.status < 500;
}

export function cliErrorFromManager(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ManagerHttpError) {
    if (error.code === 'DEVICE_REVOKED') {
      return new CliError(
        'DEVICE_REVOKED',
        `${error.message} (this device was revoked by an administrator: enroll again with grove enroll)`,
      );
    }
    return new CliError(error.code, error.message);
  }
  if (error instanceof ManagerUnreachable)
    return new CliError('MANAGER_UNREACHABLE', error.message);
  return new CliError('FAILED', error instanceof Error ? error.message : String(error));
}

/** A refresh that changed device.json's `relays` (a new list from the Manager, or a hand edit undone). */
export interface RelaysUpdated {
  file: string;
  previous: string[];
  relays: string[];
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, i) => value === b[i]);

/**
 * An enrolled device's state directory in use: hands out a relay token, refreshing it through
 * the Manager (signed challenge) when less than a minute is left, and saves the new one with
 * the Manager's relay list. Emits `fatal` (CliError) when the Manager refuses the device for
 * good during a reconnect, `relays` (string[]) when the relays to use changed, and
 * `relays-updated` (RelaysUpdated) whenever a refresh changed `relays` in the file, so that a
 * hand edit of that field is never replaced silently.
 */
export class StateSession extends EventEmitter {
  private forceRefresh = false;
  private refreshing: Promise<string> | undefined;

  constructor(
    readonly dir: string,
    private state: DeviceState,
    private readonly manager: ManagerClient = new ManagerClient(state.managerUrl),
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
  }

  static async open(dir: string): Promise<StateSession> {
    return new StateSession(dir, await readDeviceState(dir));
  }

  get current(): DeviceState {
    return this.state;
  }

  /** The relays to connect to: relayOverride when set, else the Manager's list. */
  get relays(): string[] {
    return effectiveRelays(this.state);
  }

  /** The Manager's relay pools (home first) when the device follows them; see effectivePools. */
  get pools(): string[][] | undefined {
    return effectivePools(this.state);
  }

  /**
   * Asks the Manager for a fresh token and relay list now (a connect failure, or `grove
   * refresh`), and saves both. Resolves with the relays to use.
   */
  async refreshRelays(): Promise<string[]> {
    this.invalidate();
    await this.token();
    return this.relays;
  }

  /** The next token() refreshes even if the saved one looks fresh (a relay said it expired). */
  invalidate(): void {
    this.forceRefresh = true;
  }

  async token(): Promise<string> {
    if (!this.forceRefresh && tokenIsFresh(this.state, this.now())) return this.state.token;
    // Concurrent callers share one refresh: each refresh spends a nonce and a round trip.
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** A token provider for GroveClient: permanent refusals end the command through `fatal`. */
  provider(): () => Promise<string> {
    return async () => {
      try {
        return await this.token();
      } catch (error) {
        if (isPermanentRefusal(error) || error instanceof CliError)
          this.emit('fatal', cliErrorFromManager(error));
        throw error;
      }
    };
  }

  /**
   * A new token and relay list from the Manager, merged into device.json as it is on disk now:
   * what was edited there since it was read (relayOverride, other fields) is kept; only the
   * token and `relays`, which the Manager owns, are replaced.
   */
  private async refresh(): Promise<string> {
    const answer = await this.manager.token(signChallenge(this.state, this.now()));
    // A file that no longer parses fails the refresh (STATE_INVALID): it is never overwritten.
    const onDisk = await readDeviceState(this.dir);
    const relays = answer.relays.length > 0 ? answer.relays : onDisk.relays;
    const before = effectiveRelays(this.state);
    const poolsBefore = effectivePools(this.state);
    if (!sameList(onDisk.relays, relays)) {
      this.emit('relays-updated', {
        file: stateFile(this.dir),
        previous: onDisk.relays,
        relays,
      } satisfies RelaysUpdated);
    }
    const { pools: _oldPools, ...rest } = onDisk;
    this.state = {
      ...rest,
      token: answer.token,
      tokenExpiresAt: answer.expiresAt,
      relays,
      // The Manager owns the grouping as it owns the list: kept only with the list it came with.
      ...(answer.pools !== undefined && answer.relays.length > 0
        ? { pools: answer.pools }
        : _oldPools === undefined
          ? {}
          : { pools: _oldPools }),
    };
    this.forceRefresh = false;
    await writeDeviceState(this.dir, this.state);
    const poolsAfter = effectivePools(this.state);
    if (JSON.stringify(poolsBefore) !== JSON.stringify(poolsAfter) && poolsAfter !== undefined) {
      this.emit('pools', poolsAfter);
    } else if (!sameList(before, effectiveRelays(this.state))) {
      this.emit('relays', this.relays);
    }
    return answer.token;
  }

  /** Sets (a non-empty list) or clears (an empty one) the user's relayOverride in device.json. */
  async setRelayOverride(relays: readonly string[]): Promise<void> {
    const onDisk = await readDeviceState(this.dir);
    const next: DeviceState = { ...onDisk, relayOverride: [...relays] };
    if (relays.length === 0) delete next.relayOverride;
    this.state = next;
    await writeDeviceState(this.dir, this.state);
  }

  /**
   * The error to report when a relay refused the connection: a device the relay does not know
   * (4104) or that was revoked (4105) is asked about at the Manager, which says why.
   */
  async explain(refused: ConnectionRefused): Promise<CliError> {
    if (refused.code === CloseCode.authUnknownDevice || refused.code === CloseCode.revoked) {
      try {
        this.invalidate();
        await this.token();
      } catch (error) {
        if (isPermanentRefusal(error)) return cliErrorFromManager(error);
      }
    }
    return new CliError('CONNECTION_REFUSED', refused.message);
  }
}
