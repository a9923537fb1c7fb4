import { loadRelayConfig, relayConfigFromEnvironment, type RelayConfig } from './config.js';
import { jsonLogger } from './logger.js';
import { RelayApp } from './server/relay-app.js';

/** `grove relay`: runs one relay process until SIGTERM/SIGINT, then drains. */
export async function runRelay(
  configPath: string,
  overrides: Partial<Pick<RelayConfig, 'port' | 'podId'>>,
) {
  const loaded = await loadRelayConfig(configPath);
  const { redisPassword, ...fromEnv } = relayConfigFromEnvironment(process.env);
  // Precedence: command-line flags, then the pod's environment, then the file.
  const config: RelayConfig = {
    ...loaded,
    ...fromEnv,
    ...overrides,
    redis:
      redisPassword === undefined ? loaded.redis : { ...loaded.redis, password: redisPassword },
  };
  const log = jsonLogger('relay');
  const relay = new RelayApp(config, log);
  const address = await relay.listen();
  log.info('relay listening', {
    address,
    podId: config.podId,
    domains: config.domains.map((d) => d.name),
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    const hardStop = setTimeout(() => {
      log.error('drain did not finish within the grace period; exiting');
      process.exit(1);
    }, config.drain.gracePeriodSeconds * 1000);
    hardStop.unref();
    relay
      .drain()
      .then(() => {
        log.info('drained');
        process.exit(0);
      })
      .catch((error: unknown) => {
        log.error('drain failed', { error: String(error) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return relay;
}
