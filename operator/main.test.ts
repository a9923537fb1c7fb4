import { describe, expect, it } from '@jest/globals';
import { OperatorUsageError, runOperator } from './main.js';

// Flag errors are found before anything connects: these run without an API server.
describe('grove operator flags', () => {
  it('asks for an image when neither --image nor GROVE_IMAGE is set', async () => {
    await expect(runOperator([], {})).rejects.toThrow(
      new OperatorUsageError(
        'set --image or GROVE_IMAGE: the image relay pods run when a RelayPool names none',
      ),
    );
  });

  it('refuses a concurrency that is not a positive integer, naming the flag', async () => {
    await expect(
      runOperator(['--concurrency', 'zero'], { GROVE_IMAGE: 'grove:1' }),
    ).rejects.toThrow('--concurrency must be a positive integer, got "zero"');
  });

  it('refuses a lease duration that is not a positive number of seconds', async () => {
    await expect(
      runOperator(['--image', 'grove:1', '--leader-elect', '--lease-duration', '0'], {}),
    ).rejects.toThrow('--lease-duration must be a positive number of seconds, got "0"');
  });

  it('refuses a --manager-service-account that is not NAMESPACE/NAME', async () => {
    await expect(
      runOperator(['--image', 'grove:1', '--manager-service-account', 'grove-manager'], {}),
    ).rejects.toThrow('--manager-service-account must be NAMESPACE/NAME, got "grove-manager"');
  });
});
