/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // tsconfig's isolatedModules makes ts-jest transpile only; type-checking happens once in check.sh
  // (`tsc --noEmit`) instead of per test file, which would triple the run time on two cores.
  transform: { '^.+\\.tsx?$': 'ts-jest' },
  // Synthesizing a whole stack with cdk-nag takes a few seconds on a busy machine.
  testTimeout: 120000,
};
