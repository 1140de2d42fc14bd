/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type-checking happens once in check.sh (`tsc --noEmit`); per-file checking in ts-jest would
    // triple the run time on two cores.
    '^.+\\.tsx?$': ['ts-jest', { isolatedModules: true }],
  },
  // Synthesizing a whole stack with cdk-nag takes a few seconds on a busy machine.
  testTimeout: 120000,
};
