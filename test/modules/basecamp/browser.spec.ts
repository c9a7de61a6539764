/**
 * Basecamp in a real browser (Debian's chromium, headless, driven by playwright-core) against a real `logos start`
 * process: what a user checks, checked the same way. Skipped, with a message, only when chromium is not installed.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COUNTER_DIR, devCall, eventually, FIXTURES, fixedPort, HAS_CHROMIUM, launchBrowser, parseLink, SLOW_DIR, startNodeProcess } from './harness.ts'
import type { NodeProcess } from './harness.ts'

interface Row { name: string, state: string, pid?: number, restarts: number }

let node: NodeProcess
let dataDir: string
let browser: { context: BrowserContext, close: () => Promise<void> }
/** Uncaught exceptions of every page: a test fails on any. */
const pageErrors: string[] = []

beforeAll(async () => {
  if (!HAS_CHROMIUM) return
  dataDir = await mkdtemp(join(tmpdir(), 'logos-basecamp-browser-'))
  // A fixed port, so that the page outlives a restart of the node (and meets the new run's secret).
  await writeFile(join(dataDir, 'config.json'), JSON.stringify({ modules: { basecamp: { config: { port: await fixedPort() } } } }))
  ;[node, browser] = await Promise.all([startNodeProcess(dataDir), launchBrowser()])
})

afterAll(async () => {
  await browser?.close()
  await node?.stop()
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

async function newPage (): Promise<Page> {
  const page = await browser.context.newPage()
  page.setDefaultTimeout(15_000)
  page.on('pageerror', (err) => { pageErrors.push(err.message) })
  return page
}

/** Opens the link `logos start` printed and waits for the connection. */
async function openBasecamp (): Promise<Page> {
  const page = await newPage()
  await page.goto(node.link.link)
  await page.locator('[data-testid=connection][data-state=open]').waitFor()
  return page
}

function badge (page: Page, name: string, state: string): ReturnType<Page['locator']> {
  return page.locator(`tr[data-module="${name}"] [data-field=state] .badge`, { hasText: new RegExp(`^${state}$`) })
}

async function button (page: Page, name: string, action: string): Promise<void> {
  const b = page.locator(`tr[data-module="${name}"] button[data-action=${action}]:not([disabled])`)
  await b.click()
}

async function state (name: string): Promise<string> {
  return (await devCall<Row[]>(node.dev, 'modules.list')).find(r => r.name === name)?.state ?? 'unloaded'
}

async function textOf (page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? ''
}

describe.skipIf(!HAS_CHROMIUM)('Basecamp in a browser', () => {
  it('cold start shows the core modules running; the secret leaves the address bar for this tab only', async () => {
    const page = await openBasecamp()
    const rows = await devCall<Row[]>(node.dev, 'modules.list')
    // The core modules run; every module shows with the state the node gives it.
    const core = ['basecamp', 'developer', 'directory', 'process-manager'].filter(n => rows.some(r => r.name === n))
    expect(core.length).toBeGreaterThanOrEqual(3)
    for (const name of core) expect(rows.find(r => r.name === name)?.state, name).toBe('running')
    for (const r of rows) {
      await badge(page, r.name, r.state).waitFor()
      await page.locator(`[data-testid=module-nav] a[data-route="module/${r.name}"]`).waitFor()
    }
    expect(await page.locator('[data-testid=modules-table] tbody tr[data-module]').count()).toBe(rows.length)
    expect(page.url()).toBe(`${node.link.base}#/modules`)
    expect(await page.evaluate<string | null>('sessionStorage.getItem("basecamp.secret")')).toBe(node.link.secret)
    expect(await page.evaluate<number>('document.documentElement.outerHTML.indexOf(sessionStorage.getItem("basecamp.secret"))')).toBe(-1)
    await eventually(async () => { expect(await textOf(page, '[data-testid=node-summary]')).toContain(`node pid ${String(node.child.pid)}`) })
    // Basecamp and the developer module are the page's lifeline: their buttons are off.
    expect(await page.locator('tr[data-module="basecamp"] button[data-action=stop]').isDisabled()).toBe(true)
    expect(await page.locator('tr[data-module="developer"] button[data-action=unload]').isDisabled()).toBe(true)
    await page.close()
    expect(pageErrors).toEqual([])
  })

  it('figures are polled every 2 s', async () => {
    const page = await openBasecamp()
    const poll = page.locator('[data-testid=last-poll]')
    await poll.filter({ hasText: /^polled / }).waitFor()
    const first = await poll.textContent()
    const uptime = async (): Promise<string> => await textOf(page, 'tr[data-module="directory"] [data-field=uptime]')
    const before = await uptime()
    const started = Date.now()
    await eventually(async () => { expect(await poll.textContent()).not.toBe(first) }, 8_000)
    // One period and some: a poll slower than 2 s on a loaded machine makes the page skip a tick, not pile them up.
    const between = Date.now() - started
    expect(between).toBeLessThan(6_000)
    await eventually(async () => { expect(await uptime()).not.toBe(before) }, 8_000)
    expect(await textOf(page, '[data-testid=node-cpu]')).toMatch(/^CPU \d+\.\d %$/)
    expect(await textOf(page, '[data-testid=node-rss]')).toMatch(/^memory \d+(\.\d)? MiB$/)
    await page.close()
  })

  it('a page without the secret, or with a wrong one, shows nothing of the node until given the link', async () => {
    const page = await newPage()
    await page.goto(node.link.base)
    await page.locator('[data-testid=locked]').waitFor()
    expect(await page.locator('[data-testid=modules-table]').count()).toBe(0)
    await page.goto(`${node.link.base}#secret=${'0'.repeat(64)}`)
    await page.reload()
    await page.locator('[data-testid=locked-reason]', { hasText: 'not this run\'s' }).waitFor()
    await page.locator('[data-testid=secret-input]').fill(node.link.link)
    await page.locator('[data-testid=locked] button[type=submit]').click()
    await page.locator('[data-testid=connection][data-state=open]').waitFor()
    await badge(page, 'basecamp', 'running').waitFor()
    await page.close()
  })

  it('another local web page gets nothing, not even with the secret', async () => {
    const wsUrl = `${node.link.base.replace('http', 'ws')}rpc?secret=${node.link.secret}`
    const html = `<!doctype html><script>
      (async () => {
        const out = {}
        try { const r = await fetch(${JSON.stringify(node.link.base + 'session')}, { method: 'POST', headers: { authorization: 'Bearer ${node.link.secret}' } }); out.probe = r.status } catch { out.probe = 'blocked' }
        try { const r = await fetch(${JSON.stringify(node.link.base + 'main.ts')}); out.file = r.status } catch { out.file = 'blocked' }
        out.ws = await new Promise((resolve) => { const ws = new WebSocket(${JSON.stringify(wsUrl)}); ws.onopen = () => resolve('open'); ws.onclose = () => resolve('refused') })
        document.title = JSON.stringify(out)
      })()
    </script>`
    const evil: Server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }).end(html) })
    await new Promise<void>(resolve => evil.listen(0, '127.0.0.1', resolve))
    try {
      const page = await newPage()
      await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`)
      await page.waitForFunction('document.title.startsWith("{")')
      expect(JSON.parse(await page.title())).toEqual({ probe: 'blocked', file: 'blocked', ws: 'refused' })
      await page.close()
    } finally {
      evil.closeAllConnections()
      await new Promise(resolve => evil.close(resolve))
    }
  })

  it('loading a module from a folder, then stopping and starting it, shows each state as the node has it', async () => {
    const page = await openBasecamp()
    await page.locator('form.load-form input[name=dir]').fill(COUNTER_DIR)
    await page.locator('form.load-form button[type=submit]').click()
    await badge(page, 'counter', 'running').waitFor()
    await page.locator('.toast', { hasText: 'Loaded counter 1.0.0' }).waitFor()
    await button(page, 'counter', 'stop')
    await badge(page, 'counter', 'stopped').waitFor()
    expect(await state('counter')).toBe('stopped')
    await button(page, 'counter', 'start')
    await badge(page, 'counter', 'running').waitFor()
    expect(await state('counter')).toBe('running')
    await page.close()
  })

  it('calling a method shows its JSON result; a typed error and bad JSON show as such', async () => {
    const page = await openBasecamp()
    await button(page, 'counter', 'methods')
    await page.locator('.tab.active', { hasText: 'counter' }).waitFor()
    expect(page.url()).toBe(`${node.link.base}#/module/counter`)
    const card = page.locator('article[data-method=increment]')
    // The params start from the method's schema.
    expect(JSON.parse(await card.locator('textarea').inputValue())).toEqual({ by: 0 })
    await card.locator('textarea').fill('{ "by": 5 }')
    await card.locator('button[data-action=call]').click()
    await card.locator('[data-testid=call-status]', { hasText: /^ok in / }).waitFor()
    expect(JSON.parse(await card.locator('[data-testid=result]').textContent() ?? '')).toEqual({ count: 5, at: 'counter' })
    await page.locator('[data-testid=live-events] li', { hasText: 'counter emitted incremented' }).waitFor()

    await card.locator('textarea').fill('{ "by": 5000 }')
    await card.locator('button[data-action=call]').click()
    await card.locator('[data-testid=call-status]', { hasText: /^ERR_TEST_COUNTER_LIMIT$/ }).waitFor()
    const wire = JSON.parse(await card.locator('[data-testid=result]').textContent() ?? '') as Record<string, unknown>
    expect(wire).toMatchObject({ code: 'ERR_TEST_COUNTER_LIMIT', data: { limit: 1000, asked: 5005 } })

    await card.locator('textarea').fill('{ by: 1 }')
    await card.locator('button[data-action=call]').click()
    await card.locator('[data-testid=call-status]', { hasText: 'params are not JSON' }).waitFor()
    // Recent calls come from the node (the module's activity), after a refresh.
    await page.locator('.module-view h1 button').click()
    await page.locator('.recent-calls tr.failed', { hasText: 'ERR_TEST_COUNTER_LIMIT' }).waitFor()
    await page.close()
  })

  it('errors are shown, not swallowed', async () => {
    const page = await openBasecamp()
    await button(page, 'directory', 'stop')
    const toast = page.locator('.toast[role=alert]', { hasText: 'ERR_MODULE_PROTECTED' })
    await toast.waitFor()
    await page.locator('tr[data-note-for="directory"] [data-testid=row-error]', { hasText: /^Stop failed: ERR_MODULE_PROTECTED: / }).waitFor()
    // An error toast stays until it is dismissed (it may sit over the controls below it, as on a small screen).
    await toast.locator('button.toast-close').click()
    await toast.waitFor({ state: 'detached' })
    expect(await state('directory')).toBe('running')
    await page.locator('form.load-form input[name=dir]').fill('/nowhere/at/all')
    await page.locator('form.load-form button[type=submit]').click()
    await page.locator('[data-testid=load-error]', { hasText: /^Load failed: ERR_[A-Z_]+: / }).waitFor()
    // A module stopped behind the page's back answers its calls with the kernel's typed error.
    await page.goto(`${node.link.base}#/module/counter`)
    const card = page.locator('article[data-method=increment]')
    await card.waitFor()
    await devCall(node.dev, 'modules.stop', { name: 'counter' })
    await page.locator('[data-testid=module-state]', { hasText: 'stopped' }).waitFor()
    await card.locator('textarea').fill('{ "by": 1 }')
    await card.locator('button[data-action=call]').click()
    await card.locator('[data-testid=call-status]', { hasText: /^ERR_MODULE_NOT_RUNNING$/ }).waitFor()
    // Described again, a stopped module lists no methods, and says why.
    await page.locator('.module-view h1 button').click()
    await page.locator('[data-testid=methods]', { hasText: 'no methods while stopped: start it to see them' }).waitFor()
    await devCall(node.dev, 'modules.start', { name: 'counter' })
    await page.close()
  })

  it('live logs follow, filtered by module and level on the node', async () => {
    await devCall(node.dev, 'modules.load', { dir: SLOW_DIR, config: { startMs: 6_000, stopMs: 8_000 } })
    const page = await openBasecamp()
    await page.locator('.sidebar a[data-route=logs]').click()
    await page.locator('[data-testid=log-module] option[value=counter]').waitFor({ state: 'attached' })
    await page.locator('[data-testid=log-module]').selectOption('counter')
    await page.locator('[data-testid=log-level]').selectOption('warn')
    // Let the new subscription settle, then log on the node.
    await eventually(async () => { expect(await page.locator('[data-testid=log-list] .log-row').count()).toBe(0) })
    await new Promise(resolve => setTimeout(resolve, 300))
    const say = async (module: string, level: string, message: string): Promise<void> => { await devCall(node.dev, 'modules.call', { module, method: 'say', params: { level, message } }) }
    await say('counter', 'info', 'quiet-one')
    await say('counter', 'warn', 'loud-one')
    await say('slow', 'warn', 'other-module')
    const list = page.locator('[data-testid=log-list]')
    await list.locator('.log-row', { hasText: 'loud-one' }).waitFor()
    await say('counter', 'error', 'louder-two')
    await list.locator('.log-row', { hasText: 'louder-two' }).waitFor()
    const shown = await list.locator('.log-row .message').allTextContents()
    expect(shown).toEqual(['loud-one', 'louder-two'])
    // Wider filters read the tail again from the node.
    await page.locator('[data-testid=log-level]').selectOption('trace')
    await list.locator('.log-row', { hasText: 'quiet-one' }).waitFor()
    await page.locator('[data-testid=log-module]').selectOption('')
    await list.locator('.log-row[data-module=slow]', { hasText: 'other-module' }).waitFor()
    // What a module logs is text, never markup.
    await say('counter', 'warn', '<img src=x onerror="document.title=\'pwned\'">')
    await list.locator('.log-row .message', { hasText: '<img src=x onerror=' }).waitFor()
    expect(await list.locator('img').count()).toBe(0)
    expect(await page.title()).toBe('Basecamp')
    await page.locator('[data-testid=log-text]').fill('-one')
    await eventually(async () => {
      const visible = await list.locator('.log-row:visible .message').allTextContents()
      expect(visible.filter(t => /-one|-two|other-|<img/.test(t))).toEqual(['quiet-one', 'loud-one'])
    })
    await page.close()
  })

  it('the trace shows calls as they happen, and only failures when asked', async () => {
    const page = await openBasecamp()
    await page.locator('.sidebar a[data-route=trace]').click()
    await page.locator('[data-testid=trace-list]').waitFor({ state: 'attached' })
    const list = page.locator('[data-testid=trace-list]')
    // The page subscribes over its WebSocket while the calls below go over HTTP: nothing orders the two, so a call
    // is made again until the subscription shows it (each round on a cleared list).
    const clear = async (): Promise<void> => { await page.locator('.trace-view button', { hasText: 'Clear' }).click() }
    await eventually(async () => {
      await clear()
      await devCall(node.dev, 'modules.call', { module: 'counter', method: 'increment', params: { by: 1 } })
      await list.locator('.trace-row[data-type=call]', { hasText: 'external → counter.increment' }).waitFor({ timeout: 2_000 })
    }, 20_000)
    await list.locator('.trace-row[data-type=event]', { hasText: 'counter emitted incremented' }).waitFor()
    // Failures only: once the narrowed subscription is in place, a success and a failure show the failure alone.
    await page.locator('[data-testid=trace-errors]').check()
    await eventually(async () => {
      await clear()
      await devCall(node.dev, 'modules.call', { module: 'counter', method: 'increment', params: { by: 1 } })
      await devCall(node.dev, 'modules.call', { module: 'counter', method: 'increment', params: { by: 9999 } }).catch(() => {})
      await list.locator('.trace-row.failed', { hasText: 'ERR_TEST_COUNTER_LIMIT' }).waitFor({ timeout: 2_000 })
      expect(await list.locator('.trace-row').count()).toBe(1)
    }, 20_000)
    await page.close()
  })

  it('reloading the page in the middle of a stop or a start recovers the state from the node, and the same tabs', async () => {
    const page = await openBasecamp()
    await page.locator('tr[data-module=counter] button[data-action=methods]').click()
    await page.locator('.sidebar a[data-route=logs]').click()
    await page.locator('.sidebar a[data-route=modules]').click()
    await badge(page, 'slow', 'running').waitFor()
    await button(page, 'slow', 'stop') // takes 8 s on the node: time for a reload and a reconnect on a loaded machine
    await page.locator('tr[data-module=slow] button[data-action=stop]', { hasText: 'Stopping…' }).waitFor()
    await badge(page, 'slow', 'stopping').waitFor()
    await page.reload()
    await page.locator('[data-testid=connection][data-state=open]').waitFor()
    // The new page knows nothing of the old one's request: what it shows comes from the node.
    await badge(page, 'slow', 'stopping').waitFor()
    expect(await state('slow')).toBe('stopping')
    expect(await page.locator('[data-testid=tabs] .tab').evaluateAll(tabs => tabs.map(t => (t as unknown as { dataset: { route: string } }).dataset.route))).toEqual(['modules', 'module/counter', 'logs'])
    expect(page.url()).toBe(`${node.link.base}#/modules`)
    await badge(page, 'slow', 'stopped').waitFor({ timeout: 20_000 })
    expect(await state('slow')).toBe('stopped')
    // The other way: a start (6 s) that the page leaves half-way still completes on the node.
    await button(page, 'slow', 'start')
    await badge(page, 'slow', 'starting').waitFor()
    await page.reload()
    await page.locator('[data-testid=connection][data-state=open]').waitFor()
    await badge(page, 'slow', 'starting').waitFor()
    await badge(page, 'slow', 'running').waitFor({ timeout: 20_000 })
    expect(await state('slow')).toBe('running')
    await page.close()
  })

  it('a module\'s process killed from outside shows it crashed and restarting (with a process manager)', async (ctx) => {
    const info = await devCall<{ hosts: string[] }>(node.dev, 'node.info')
    if (!info.hosts.includes('child-process')) {
      console.warn('skipped: this node has no child-process host (the process-manager module is not in its distribution)')
      ctx.skip()
      return
    }
    const page = await openBasecamp()
    await page.locator('form.load-form input[name=dir]').fill(join(FIXTURES, 'sturdy'))
    await page.locator('form.load-form select[name=host]').selectOption('child-process')
    await page.locator('form.load-form button[type=submit]').click()
    await badge(page, 'sturdy', 'running').waitFor()
    const pidCell = page.locator('tr[data-module=sturdy] [data-field=pid]')
    await eventually(async () => { expect(Number(await pidCell.textContent())).toBeGreaterThan(0) })
    const pid = Number(await pidCell.textContent())
    expect(pid).not.toBe(node.child.pid)
    expect(await devCall(node.dev, 'modules.call', { module: 'sturdy', method: 'pid' })).toBe(pid)
    process.kill(pid, 'SIGKILL')
    await page.locator('.toast[role=alert]', { hasText: 'sturdy crashed' }).waitFor()
    await page.locator('tr[data-note-for=sturdy] [data-testid=row-note]', { hasText: /crashed|restart/ }).waitFor()
    await eventually(async () => {
      expect(Number(await pidCell.textContent())).not.toBe(pid)
      expect(await textOf(page, 'tr[data-module=sturdy] [data-field=restarts]')).not.toBe('0')
    }, 15_000)
    await badge(page, 'sturdy', 'running').waitFor()
    await page.close()
  })

  it('a node restart cuts the page off, shows it, and the new run\'s link lets it back in', async () => {
    const page = await openBasecamp()
    await node.stop()
    await page.locator('[data-testid=banner]', { hasText: 'Not connected to the node' }).waitFor()
    node = await startNodeProcess(dataDir)
    expect(parseLink(node.link.link).base).toBe(page.url().replace(/#.*$/, ''))
    // The page comes back to the same origin, but its secret is the old run's: it locks itself.
    await page.locator('[data-testid=locked-reason]', { hasText: 'no longer this run\'s' }).waitFor({ timeout: 20_000 })
    await page.locator('[data-testid=secret-input]').fill(node.link.link)
    await page.locator('[data-testid=locked] button[type=submit]').click()
    await page.locator('[data-testid=connection][data-state=open]').waitFor()
    await badge(page, 'developer', 'running').waitFor()
    await page.close()
    expect(pageErrors).toEqual([])
  })
})
