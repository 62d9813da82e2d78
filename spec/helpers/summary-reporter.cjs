// Ends the jest output with one plain line, "N passed, N failed, N skipped",
// that CI can read whatever the runner's own format. Written at exit so it
// comes after jest's own summary.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped, numTodoTests: todo } = results
    const broken = results.numRuntimeErrorTestSuites
    const line = `jest: ${passed} passed, ${failed + broken} failed, ${skipped + todo} skipped\n`
    process.once('exit', () => process.stderr.write(line))
  }
}
module.exports = SummaryReporter
