/**
 * Basecamp's page: takes this run's secret from the link, checks it with Basecamp, and opens the shell over the
 * relay's WebSocket. Without a good secret it shows how to get one, and nothing of the node.
 */
import { RpcClient } from './client.ts'
import { fill, h } from './dom.ts'
import { forgetSecret, probe, rememberSecret, secretFromInput, takeSecret } from './secret.ts'
import { Shell } from './shell.ts'
import { NodeStore } from './store.ts'
import { Toasts } from './toasts.ts'

const root = document.getElementById('app') as HTMLElement

function locked (why: string): void {
  root.dataset.state = 'locked'
  const input = h('input', { type: 'password', autocomplete: 'off', 'aria-label': 'Link or secret', placeholder: 'http://127.0.0.1:…/#secret=…', 'data-testid': 'secret-input' })
  const form = h('form', {
    onsubmit: (e: Event) => {
      e.preventDefault()
      const secret = secretFromInput(input.value)
      if (secret === undefined) {
        input.setCustomValidity('a Basecamp link or its 64-character secret')
        input.reportValidity()
        return
      }
      rememberSecret(secret)
      void boot()
    }
  }, input, h('button', { type: 'submit' }, 'Open'))
  fill(root, h('div', { class: 'locked', 'data-testid': 'locked' },
    h('h1', {}, 'Basecamp'),
    h('p', { class: 'why', 'data-testid': 'locked-reason' }, why),
    h('p', {}, 'Open the link that ', h('code', {}, 'logos start'), ' printed in its terminal, or print it again with ', h('code', {}, 'logos basecamp'), '. The secret in it changes each time the node starts; only someone who can read the node\'s terminal or its data directory has it.'),
    form))
}

function unreachable (): void {
  root.dataset.state = 'unreachable'
  fill(root, h('div', { class: 'locked', 'data-testid': 'unreachable' },
    h('h1', {}, 'Basecamp'),
    h('p', { class: 'why' }, 'Basecamp is not answering: the node may have stopped.'),
    h('button', { type: 'button', onclick: () => { void boot() } }, 'Try again')))
}

async function boot (): Promise<void> {
  const secret = takeSecret()
  if (secret === undefined) {
    locked('This page needs this run\'s secret.')
    return
  }
  const verdict = await probe(secret)
  if (verdict === 'locked') {
    forgetSecret()
    locked('That secret is not this run\'s: the node has restarted since, or the link was mistyped.')
    return
  }
  if (verdict === 'down') {
    unreachable()
    return
  }
  const toasts = new Toasts()
  const client = new RpcClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc?secret=${secret}`, async () => await probe(secret))
  client.onError((what, err) => { toasts.error(what, err) })
  const store = new NodeStore(client, toasts)
  const shell = new Shell(client, store, toasts)
  fill(root, shell.el)
  root.dataset.state = 'ready'
  client.onStatus((s) => {
    if (s.state !== 'locked') return
    client.stop()
    store.stop()
    forgetSecret()
    locked('That secret is no longer this run\'s: the node has restarted.')
  })
  store.start()
  shell.restore()
  client.start()
}

void boot()
