/** What one spec/integration/fixtures/store-worker.ts process prints: its counts. */
export type WorkerCounts = Record<string, number> & { statuses: Record<string, number>; refreshTokensSpent: string[] }

/** The workers' counts added up (refreshSessionCalls as the workers saw them). */
export function totals(results: WorkerCounts[]) {
  const sum = (k: string) => results.reduce((a, r) => a + (r[k] as number), 0)
  return {
    workers: results.length,
    requests: sum('requests'),
    ok: sum('ok'),
    failed: sum('failed'),
    logouts: sum('deleted'),
    refreshFailures: sum('refreshFailures'),
    refreshSessionCalls: sum('refreshSessionCalls'),
    /** Refresh tokens (by digest) spent by more than one refreshSession, across all workers. */
    generationsRefreshedTwice: duplicates(results.flatMap((r) => r.refreshTokensSpent)).length,
  }
}

const duplicates = (xs: string[]) => [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))]
