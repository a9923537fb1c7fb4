import { describe, expect, it } from '@jest/globals';
import { jsonLogger, LogLevelError, logThresholdFromEnv, type LogThreshold } from './logger.js';

function written(threshold: LogThreshold): string[] {
  const lines: string[] = [];
  const log = jsonLogger('test', (line) => lines.push(line), threshold);
  log.info('i');
  log.warn('w');
  log.error('e');
  return lines.map((line) => (JSON.parse(line) as { level: string }).level);
}

describe('logger › GROVE_LOG_LEVEL', () => {
  it('writes the chosen level and those above it', () => {
    expect(written('debug')).toEqual(['info', 'warn', 'error']);
    expect(written('info')).toEqual(['info', 'warn', 'error']);
    expect(written('warn')).toEqual(['warn', 'error']);
    expect(written('error')).toEqual(['error']);
  });

  it('is info when unset or empty, and takes any case', () => {
    expect(logThresholdFromEnv({})).toBe('info');
    expect(logThresholdFromEnv({ GROVE_LOG_LEVEL: '' })).toBe('info');
    expect(logThresholdFromEnv({ GROVE_LOG_LEVEL: ' WARN ' })).toBe('warn');
    expect(logThresholdFromEnv({ GROVE_LOG_LEVEL: 'debug' })).toBe('debug');
  });

  it('refuses any other value with a usage error naming the variable and the choices', () => {
    expect(() => logThresholdFromEnv({ GROVE_LOG_LEVEL: 'verbose' })).toThrow(LogLevelError);
    expect(() => logThresholdFromEnv({ GROVE_LOG_LEVEL: 'verbose' })).toThrow(
      'GROVE_LOG_LEVEL must be one of debug, info, warn, error (any case), got "verbose"',
    );
    const error = new LogLevelError('x'.repeat(10_000));
    expect(error.code).toBe('USAGE');
    expect(error.message.length).toBeLessThan(200);
  });
});
