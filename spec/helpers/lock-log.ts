// Reads the event log of the lock kill test: lines "enter|exit|kill <pid> <ms>"
// in the order they happened (appended with O_APPEND by the workers, and by the
// controller before each SIGKILL).

export type LockLogReport = {
  entries: number
  /** Kills logged, and those that hit a holder inside the lock. */
  kills: number
  killsInside: number
  /** Entries while another live holder was inside: the defect. */
  violations: number
  /** Longest time between two consecutive entries. */
  longestGapMs: number
  /** Longest time from killing a holder inside to the next entry. */
  longestTakeoverMs: number
}

export function readLockLog(text: string): LockLogReport {
  // pid -> killed while inside (its lines after the kill, if any, raced the signal)
  const inside = new Map<number, boolean>()
  const report: LockLogReport = {
    entries: 0,
    kills: 0,
    killsInside: 0,
    violations: 0,
    longestGapMs: 0,
    longestTakeoverMs: 0,
  }
  let lastEntry: number | undefined
  let killedInsideAt: number | undefined
  for (const line of text.split('\n')) {
    const [what, pidText, atText] = line.split(' ')
    if (!what) continue
    const pid = Number(pidText)
    const at = Number(atText)
    if (what === 'enter') {
      // A holder killed inside counts as gone: its successor may enter once the
      // signal landed, which is after the kill line.
      if ([...inside].some(([other, killed]) => other !== pid && !killed)) report.violations++
      inside.set(pid, false)
      report.entries++
      if (lastEntry !== undefined) report.longestGapMs = Math.max(report.longestGapMs, at - lastEntry)
      if (killedInsideAt !== undefined)
        report.longestTakeoverMs = Math.max(report.longestTakeoverMs, at - killedInsideAt)
      lastEntry = at
      killedInsideAt = undefined
    } else if (what === 'exit') {
      inside.delete(pid)
    } else if (what === 'kill') {
      report.kills++
      if (inside.has(pid)) {
        report.killsInside++
        inside.set(pid, true)
        killedInsideAt ??= at
      }
    } else {
      throw new Error(`unexpected line in the lock log: ${line}`)
    }
  }
  return report
}
