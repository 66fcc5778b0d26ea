import { defineConfig } from 'vitest/config'

// Integration tests start real servers (InfluxDB, Mosquitto, pymodbus, socat); the machine has 2 cores,
// so files run two at a time and time-outs are generous. Speed targets live in `npm run bench`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    allowOnly: false,
    // Under CI=true a skipped test fails the run (test/helpers/ci-reporter.ts).
    reporters: ['default', './test/helpers/ci-reporter.ts'],
  },
})
