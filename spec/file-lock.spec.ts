import { afterAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FileLock, HOST, type FileLockOptions } from '../lib/file-lock.ts'

// The orders that broke 0.1's rename-based takeover, forced with the lock's
// step seam: a waiter pauses between judging a generation free and claiming
// the next one while others take, release and clean up the lock.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lpa-lock-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let n = 0
const newDir = () => path.join(root, `l${++n}`)

/** A pid that is certainly gone: a child that already exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!
const writeDeadHolder = (dir: string, gen: number) => {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, String(gen)), JSON.stringify({ pid: deadPid(), host: HOST, token: 'dead' }))
}
const generations = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => a - b)

/** A promise with its resolver outside, to hold a step until the spec says so. */
function gate() {
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  return { open, opened }
}

/** Waits until `predicate` holds (polling), for steps that happen in another async chain. */
async function until(predicate: () => boolean, what: string) {
  const deadline = Date.now() + 5_000
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Who is inside, recorded by every holder: two at once is the defect. */
function occupancy() {
  const inside = new Set<string>()
  const overlaps: string[] = []
  const enter = (who: string) => {
    if (inside.size) overlaps.push(`${who} entered while ${[...inside].join(', ')} inside`)
    inside.add(who)
  }
  const exit = (who: string) => inside.delete(who)
  return { inside, overlaps, enter, exit }
}

describe('FileLock', () => {
  it('two waiters judging the same dead holder race for one new name: one wins, the other waits for it', async () => {
    const dir = newDir()
    writeDeadHolder(dir, 0)
    const room = occupancy()
    const bJudged = gate()
    const bGo = gate()
    const bOptions: FileLockOptions = {
      step: async (name, gen) => {
        if (name === 'judged' && gen === 1) {
          bJudged.open()
          await bGo.opened
        }
      },
    }
    const aRelease = gate()
    const b = new FileLock(dir, bOptions).run(async () => {
      room.enter('B')
      room.exit('B')
    })
    await bJudged.opened // B judged generation 0 dead and is about to claim 1
    const a = new FileLock(dir).run(async () => {
      room.enter('A')
      await aRelease.opened
      room.exit('A')
    })
    await until(() => room.inside.has('A'), 'A is inside')
    expect(generations(dir)).toEqual([1]) // A took 1 and removed the dead 0
    bGo.open() // B acts on its judgement: its claim of 1 must fail, not move A's lock
    const c = new FileLock(dir, { acquireTimeoutMs: 60_000 }).run(async () => {
      room.enter('C')
      room.exit('C')
    })
    await new Promise((r) => setTimeout(r, 300))
    expect([...room.inside]).toEqual(['A'])
    aRelease.open()
    await Promise.all([a, b, c])
    expect(room.overlaps).toEqual([])
  })

  it('a claim made from a judgement overtaken while it waited withdraws, though its name was free again', async () => {
    const dir = newDir()
    writeDeadHolder(dir, 0)
    const room = occupancy()
    const wJudged = gate()
    const wGo = gate()
    const claims: number[] = []
    const w = new FileLock(dir, {
      step: async (name, gen) => {
        if (name === 'judged' && gen === 1 && !claims.length) {
          wJudged.open()
          await wGo.opened
        }
        if (name === 'claimed') claims.push(gen)
      },
    }).run(async () => {
      room.enter('W')
      room.exit('W')
    })
    await wJudged.opened // W judged 0 dead; it will claim 1
    // Meanwhile X takes 1 and releases (2 is the release mark); Y takes 3,
    // removes 0..2, and stays inside.
    await new FileLock(dir).run(async () => {
      room.enter('X')
      room.exit('X')
    })
    const yRelease = gate()
    const y = new FileLock(dir).run(async () => {
      room.enter('Y')
      await yRelease.opened
      room.exit('Y')
    })
    await until(() => room.inside.has('Y'), 'Y is inside')
    expect(generations(dir)).toEqual([3])
    wGo.open() // W's link of 1 succeeds (the name was cleaned up), but 3 is above it
    await until(() => claims.length > 0, 'W claimed')
    await new Promise((r) => setTimeout(r, 200))
    expect(claims[0]).toBe(1)
    expect([...room.inside]).toEqual(['Y'])
    expect(generations(dir)).toEqual([3]) // W withdrew its claim
    yRelease.open()
    await Promise.all([w, y])
    expect(room.overlaps).toEqual([])
    expect(claims.at(-1)).toBe(5) // W got in after Y released (4)
  })

  it('a holder that went silent and was taken over neither releases nor removes the new holder', async () => {
    const dir = newDir()
    const room = occupancy()
    const release = gate()
    const a = new FileLock(dir, { staleMs: 60_000 }).run(async () => {
      room.enter('A')
      await release.opened
      room.exit('A')
    })
    await until(() => room.inside.has('A'), 'A is inside')
    const old = new Date(Date.now() - 120_000)
    fs.utimesSync(path.join(dir, '0'), old, old) // as if A's process froze for 2 minutes
    room.exit('A') // A is frozen: B taking over is the intended outcome, not an overlap
    const bRelease = gate()
    const b = new FileLock(dir, { staleMs: 60_000 }).run(async () => {
      room.enter('B')
      await bRelease.opened
      room.exit('B')
    })
    await until(() => room.inside.has('B'), 'B is inside')
    release.open()
    await a
    expect(generations(dir)).toEqual([1]) // B's generation, untouched by A's release
    bRelease.open()
    await b
    expect(generations(dir)).toEqual([2])
    expect(room.overlaps).toEqual([])
  })

  it('many waiters in one process after a dead holder: one at a time, all get in', async () => {
    const dir = newDir()
    writeDeadHolder(dir, 7)
    const room = occupancy()
    let entries = 0
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        new FileLock(dir).run(async () => {
          room.enter(`L${i}`)
          entries++
          await new Promise((r) => setTimeout(r, 2))
          room.exit(`L${i}`)
        }),
      ),
    )
    expect(entries).toBe(12)
    expect(room.overlaps).toEqual([])
    expect(fs.readdirSync(dir)).toEqual([String(7 + 2 * 12)]) // only the last release mark is left
  })

  it('a failure after its claim releases the lock instead of leaving it held for staleMs', async () => {
    const dir = newDir()
    const failing = new FileLock(dir, {
      step: (name) => {
        if (name === 'claimed') throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' })
      },
    })
    await expect(failing.run(async () => 'never')).rejects.toThrow(/EMFILE/)
    const started = Date.now()
    await expect(new FileLock(dir, { staleMs: 60_000, acquireTimeoutMs: 5_000 }).run(async () => 'next')).resolves.toBe(
      'next',
    )
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})
