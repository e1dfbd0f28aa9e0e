// `npm run test:faults` (issue #9 item 6): the built API and worker as child processes under faults (a killed
// worker, PostgreSQL stopped, Redis flushed, a hanging directory, 429 storms). Kept out of `npm test`: it
// needs the build, runs for minutes and owns its processes. One spec file at a time (--runInBand in the
// script), so that the timings it prints are not another scenario's load.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.json');

export default {
  displayName: 'faults',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' }),
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/faults/**/*.fault-spec.ts'],
  globalSetup: '<rootDir>/test/faults/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/faults/setup/global-teardown.ts',
  testTimeout: 240000,
  forceExit: true,
};
