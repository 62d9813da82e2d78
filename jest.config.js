// Three projects on one base: unit specs (nock, no sockets beyond loopback),
// integration specs (processes, the reference PDS, Redis), which get more time,
// and the kill tests (dozens of processes SIGKILLed), which `npm test` runs on
// their own afterwards (--runInBand) so they never starve a PDS starting beside them.
const STRESS = '<rootDir>/spec/integration/.*-kill\\.spec\\.ts$'
const ESM_ONLY = [
  'nock',
  '@mswjs/interceptors',
  'rettime',
  '@open-draft/until',
  'p-queue',
  'p-timeout',
  'eventemitter3',
  '@atproto',
  '@atproto-labs',
  'multiformats',
  'ofetch',
  'destr',
  'ufo',
  'node-fetch-native',
  'await-lock',
]

const base = {
  transform: { '\\.[cm]?[jt]sx?$': 'babel-jest' },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  moduleNameMapper: {
    '^lex-password-agent$': '<rootDir>/lib/index.ts',
    '^lex-password-agent/middleware$': '<rootDir>/middleware/index.ts',
    '^lex-password-agent/discovery$': '<rootDir>/lib/discovery.ts',
    '^lex-password-agent/file-store$': '<rootDir>/lib/file-store.ts',
    '^lex-password-agent/redis-store$': '<rootDir>/lib/redis-store.ts',
    '^lex-password-agent/web-store$': '<rootDir>/lib/web-store.ts',
    // multiformats' exports have only an `import` condition.
    '^multiformats/(.*)$': '<rootDir>/node_modules/multiformats/dist/src/$1.js',
    '^multiformats$': '<rootDir>/node_modules/multiformats/dist/src/index.js',
    // So are await-lock's (a dependency of @atproto/api).
    '^await-lock$': '<rootDir>/node_modules/await-lock/build/AwaitLock.js',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  setupFilesAfterEnv: ['<rootDir>/spec/setup.ts'],
  modulePathIgnorePatterns: [
    '<rootDir>/spec/pds/\\.install/',
    '<rootDir>/spec/runtimes/(\\.install|packages)/',
    '<rootDir>/spec/pds/toolchain/',
    '<rootDir>/spec/pds/package\\.json',
  ],
}

export default {
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/spec/**/*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/spec/integration/', '<rootDir>/spec/pds/'],
    },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/spec/integration/**/*.spec.ts', '<rootDir>/spec/pds/*.spec.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/spec/pds/\\.install/', STRESS],
      testTimeout: 120_000,
    },
    {
      ...base,
      displayName: 'stress',
      testMatch: ['<rootDir>/spec/integration/*-kill.spec.ts'],
      testTimeout: 120_000,
    },
  ],
  reporters: ['default', '<rootDir>/spec/helpers/summary-reporter.cjs'],
}
