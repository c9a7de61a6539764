import { describe, expect, it } from 'vitest'
import { PendingReplies } from '../../../src/modules/network/pending-replies.ts'

describe('PendingReplies', () => {
  it('gives a wait its answer once, and refuses an id nothing waits for', async () => {
    const p = new PendingReplies<string>({ max: 2, windowMs: 10_000 })
    const { id, answer } = p.open()
    expect(p.size).toBe(1)
    expect(p.answer(id, 'yes')).toBe(true)
    expect(await answer).toBe('yes')
    expect(p.answer(id, 'again')).toBe(false)
    expect(p.answer('never-announced', 'x')).toBe(false)
    expect(p.size).toBe(0)
  })

  it('ends a wait unanswered after its window, on its signal, and when cleared', async () => {
    const p = new PendingReplies<string>({ max: 8, windowMs: 20 })
    const expired = p.open()
    expect(await expired.answer).toBeUndefined()
    expect(p.answer(expired.id, 'late')).toBe(false)

    const unbounded = new PendingReplies<string>({ max: 8 })
    const controller = new AbortController()
    const aborted = unbounded.open({ signal: controller.signal })
    controller.abort()
    expect(await aborted.answer).toBeUndefined()
    const stopped = unbounded.open()
    unbounded.clear()
    expect(await stopped.answer).toBeUndefined()
    expect(unbounded.size).toBe(0)
  })

  it('says when it is full, and ids are unique', () => {
    const p = new PendingReplies<string>({ max: 2 })
    const a = p.open()
    expect(p.full).toBe(false)
    const b = p.open()
    expect(p.full).toBe(true)
    expect(new Set([a.id, b.id, p.newId(), p.newId()]).size).toBe(4)
    p.clear()
  })
})
