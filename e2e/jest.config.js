// The end-to-end suite (npm run e2e): its own Jest configuration, so `npm test` never runs it.
// Same ESM mode and TypeScript transform as jest.config.js; scenarios run one at a time, in
// the order of their file names (support/sequencer.js), and a failed scenario leaves a
// diagnostics bundle (support/diagnostics-reporter.js).
/** @type {import('jest').Config} */
export default {
  rootDir: '..',
  roots: ['<rootDir>/e2e'],
  testMatch: ['<rootDir>/e2e/scenarios/*.e2e.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        useESM: true,
        tsconfig: { isolatedModules: true, module: 'NodeNext', moduleResolution: 'NodeNext' },
      },
    ],
  },
  testEnvironment: 'node',
  testSequencer: '<rootDir>/e2e/support/sequencer.js',
  reporters: ['default', '<rootDir>/e2e/support/diagnostics-reporter.js'],
  testTimeout: 600_000,
  maxWorkers: 1,
};
