/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type checking is `tsc`'s job (npm test runs it first); ts-jest only transpiles (tsconfig's isolatedModules), which keeps runs fast.
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 30_000,
  // Two cores: integration and end-to-end suites each start their own redis-server processes.
  maxWorkers: 2,
};
