// Ends the jest output with one plain line, "N passed, N failed, N skipped",
// that CI can read whatever the runner's own format.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped, numTodoTests: todo } = results
    const broken = results.numRuntimeErrorTestSuites
    process.stderr.write(`\njest: ${passed} passed, ${failed + broken} failed, ${skipped + todo} skipped\n`)
  }
}
module.exports = SummaryReporter
