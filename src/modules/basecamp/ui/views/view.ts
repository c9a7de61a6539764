import type { RpcClient } from '../client.ts'
import type { NodeStore } from '../store.ts'
import type { Toasts } from '../toasts.ts'

/** One tab's content. */
export interface View {
  readonly el: HTMLElement
  /** The tab became visible. */
  show?: () => void
  /** Its tab closed: end subscriptions and timers. */
  dispose: () => void
}

/** What every view gets. */
export interface ViewContext {
  client: RpcClient
  store: NodeStore
  toasts: Toasts
  /** Opens (or focuses) the tab of a route: `modules`, `logs`, `trace`, `module/<name>`. */
  open: (route: string) => void
}
