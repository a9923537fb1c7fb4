import { loadRelayConfig, relayConfigFromEnvironment, type RelayConfig } from './config.js';
import { stopOnSignals } from '../contracts/graceful-shutdown.js';
import { jsonLogger } from '../contracts/logger.js';
import { RelayApp } from './server/relay-app.js';

/** `grove relay`: runs one relay process until SIGTERM/SIGINT, then drains. */
export async function runRelay(
  configPath: string,
  overrides: Partial<Pick<RelayConfig, 'port' | 'podId'>>,
) {
  const loaded = await loadRelayConfig(configPath);
  const { redisPassword, sentinelPassword, ...fromEnv } = relayConfigFromEnvironment(process.env);
  // Precedence: command-line flags, then the pod's environment, then the file.
  const config: RelayConfig = {
    ...loaded,
    ...fromEnv,
    ...overrides,
    redis: {
      ...loaded.redis,
      ...(redisPassword === undefined ? {} : { password: redisPassword }),
      ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
    },
  };
  const log = jsonLogger('relay');
  const relay = new RelayApp(config, log);
  const listening = await relay.listen();
  log.info('relay listening', {
    ...listening,
    podId: config.podId,
    domains: config.domains.map((d) => d.name),
  });
  stopOnSignals(log, {
    stop: () => relay.drain(),
    graceMs: config.drain.gracePeriodSeconds * 1000,
  });
  return relay;
}
