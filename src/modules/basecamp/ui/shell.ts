/**
 * The shell: a top bar (the node and the connection), a sidebar (system views, and the loaded modules with their
 * state), and one tab per open view. The open tabs live in this tab's sessionStorage and the active one in the URL
 * (#/modules, #/logs, #/trace, #/module/<name>), so reloading the page brings back the same screen, filled again from
 * the node.
 */
import type { RpcClient, Status } from './client.ts'
import { fill, h, setText } from './dom.ts'
import { formatBytes, formatPercent } from './format.ts'
import { routeOf } from './routes.ts'
import type { NodeStore } from './store.ts'
import type { Toasts } from './toasts.ts'
import { LogsView } from './views/logs.ts'
import { ModuleView } from './views/module.ts'
import { ModulesView } from './views/modules.ts'
import { TraceView } from './views/trace.ts'
import type { View, ViewContext } from './views/view.ts'

const TABS_KEY = 'basecamp.tabs'
const SYSTEM_VIEWS: ReadonlyArray<{ route: string, label: string }> = [
  { route: 'modules', label: 'Modules' },
  { route: 'logs', label: 'Logs' },
  { route: 'trace', label: 'Trace' }
]
/**
 * Tabs open at once; opening one more closes the oldest. Each module tab holds one trace subscription, and the
 * developer interface allows 16 per connection (the store, Logs and Trace hold one each).
 */
const MAX_TABS = 10

interface Tab {
  route: string
  view: View
  button: HTMLElement
}

export class Shell {
  readonly el: HTMLElement
  private readonly ctx: ViewContext
  private readonly tabs = new Map<string, Tab>()
  private readonly tabBar: HTMLElement
  private readonly viewsEl: HTMLElement
  private readonly moduleNav: HTMLElement
  private readonly summary: HTMLElement
  private readonly connection: HTMLElement
  private readonly banner: HTMLElement
  private active: string | undefined

  constructor (client: RpcClient, store: NodeStore, toasts: Toasts) {
    this.ctx = { client, store, toasts, open: (route) => { this.navigate(route) } }
    this.tabBar = h('div', { class: 'tabs', role: 'tablist', 'data-testid': 'tabs' })
    this.viewsEl = h('div', { class: 'views' })
    this.moduleNav = h('ul', { class: 'module-nav', 'data-testid': 'module-nav' })
    this.summary = h('span', { class: 'node-summary', 'data-testid': 'node-summary' })
    this.connection = h('span', { class: 'connection', 'data-testid': 'connection', 'data-state': 'connecting' }, 'connecting…')
    this.banner = h('div', { class: 'banner', role: 'status', 'data-testid': 'banner', hidden: true })
    this.el = h('div', { class: 'shell' },
      h('header', { class: 'topbar' }, h('span', { class: 'brand' }, 'Basecamp'), this.summary, this.connection),
      h('nav', { class: 'sidebar', 'aria-label': 'Views' },
        h('h2', {}, 'System'),
        h('ul', {}, SYSTEM_VIEWS.map(v => h('li', {}, h('a', { href: `#/${v.route}`, 'data-route': v.route }, v.label)))),
        h('h2', {}, 'Loaded modules'),
        this.moduleNav),
      h('main', {}, this.banner, this.tabBar, this.viewsEl),
      toasts.el)
    client.onStatus((s) => { this.onStatus(s) })
    store.onChange(() => { this.renderNode() })
    window.addEventListener('hashchange', () => { this.fromHash() })
  }

  /** Opens the tabs this browser tab had, then the one in the URL. */
  restore (): void {
    let saved: unknown
    try {
      saved = JSON.parse(sessionStorage.getItem(TABS_KEY) ?? '[]')
    } catch {
      saved = []
    }
    for (const route of Array.isArray(saved) ? saved : []) {
      if (typeof route === 'string' && routeOf(`#/${route}`) !== undefined) this.openTab(route)
    }
    this.fromHash()
  }

  private fromHash (): void {
    const route = routeOf(location.hash) ?? this.active ?? 'modules'
    this.activate(route)
    if (location.hash !== `#/${route}`) history.replaceState(null, '', `#/${route}`)
  }

  private navigate (route: string): void {
    if (location.hash === `#/${route}`) this.activate(route)
    else location.hash = `#/${route}`
  }

  private openTab (route: string): Tab {
    const open = this.tabs.get(route)
    if (open !== undefined) return open
    const view = this.makeView(route)
    const label = route.startsWith('module/') ? route.slice('module/'.length) : SYSTEM_VIEWS.find(v => v.route === route)?.label ?? route
    const button = h('div', { class: 'tab', role: 'tab', 'data-route': route },
      h('a', { href: `#/${route}` }, label),
      h('button', { type: 'button', class: 'tab-close', 'aria-label': `Close ${label}`, onclick: () => { this.closeTab(route) } }, '×'))
    const tab: Tab = { route, view, button }
    this.tabs.set(route, tab)
    this.tabBar.append(button)
    view.el.hidden = true
    this.viewsEl.append(view.el)
    if (this.tabs.size > MAX_TABS) {
      const oldest = [...this.tabs.keys()].find(r => r !== route)
      if (oldest !== undefined) this.closeTab(oldest)
    }
    this.save()
    return tab
  }

  private makeView (route: string): View {
    if (route === 'modules') return new ModulesView(this.ctx)
    if (route === 'logs') return new LogsView(this.ctx)
    if (route === 'trace') return new TraceView(this.ctx)
    return new ModuleView(this.ctx, route.slice('module/'.length))
  }

  private activate (route: string): void {
    const tab = this.openTab(route)
    this.active = route
    for (const t of this.tabs.values()) {
      const on = t.route === route
      t.view.el.hidden = !on
      t.button.classList.toggle('active', on)
      t.button.setAttribute('aria-selected', String(on))
    }
    for (const a of this.el.querySelectorAll<HTMLElement>('.sidebar a[data-route]')) a.classList.toggle('active', a.dataset.route === route)
    tab.view.show?.()
  }

  private closeTab (route: string): void {
    const tab = this.tabs.get(route)
    if (tab === undefined) return
    const order = [...this.tabs.keys()]
    tab.view.dispose()
    tab.view.el.remove()
    tab.button.remove()
    this.tabs.delete(route)
    this.save()
    if (this.active === route) {
      const i = order.indexOf(route)
      const next = order[i + 1] ?? order[i - 1] ?? 'modules'
      this.active = undefined
      this.navigate(next === route ? 'modules' : next)
    }
  }

  private save (): void {
    sessionStorage.setItem(TABS_KEY, JSON.stringify([...this.tabs.keys()]))
  }

  private renderNode (): void {
    const { store } = this.ctx
    const f = store.figures
    setText(this.summary, f === undefined ? '' : `node pid ${f.pid} · CPU ${formatPercent(f.cpuPercent)} · ${formatBytes(f.rssBytes)} · ${store.modules.length} modules`)
    const items = store.modules.map(m => h('li', {},
      h('a', { href: `#/module/${m.name}`, 'data-route': `module/${m.name}`, class: this.active === `module/${m.name}` ? 'active' : undefined },
        h('span', { class: `dot state-${m.state}`, title: m.state }), m.name)))
    const text = store.modules.map(m => `${m.name}:${m.state}`).join()
    if (this.moduleNav.dataset.text !== text) {
      this.moduleNav.dataset.text = text
      fill(this.moduleNav, items)
    }
  }

  private onStatus (s: Status): void {
    this.connection.dataset.state = s.state
    switch (s.state) {
      case 'open':
        setText(this.connection, 'connected')
        this.banner.hidden = true
        break
      case 'connecting':
        setText(this.connection, s.attempt === 0 ? 'connecting…' : 'reconnecting…')
        break
      case 'closed':
        setText(this.connection, 'disconnected')
        setText(this.banner, `Not connected to the node: ${s.reason}. Trying again in ${(s.retryInMs / 1000).toFixed(1)} s; what is on screen may be out of date.`)
        this.banner.hidden = false
        break
      case 'locked':
        setText(this.connection, 'locked')
        break
    }
  }
}
