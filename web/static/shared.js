// Herald live demo, "Shared stream" panel: the same raffle topic through /herald.js, so that
// every tab of this origin shares one stream. The connection count is herald_connections,
// read from /metrics once a second while the panel is shown.
import { herald } from '/herald.js'

const $ = id => document.getElementById(id)
const MODES = { worker: 'SharedWorker', locks: 'Web Locks + BroadcastChannel', tab: 'own stream' }
const LABELS = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', ended: 'Ended' }
let started = false, events = 0

function log(kind, msg) {
  const el = $('shared-log')
  el.querySelector('.empty')?.remove()
  const li = document.createElement('li')
  for (const [c, text] of [['t', new Date().toTimeString().slice(0, 8)], ['kind', kind], ['msg', msg]]) {
    const span = document.createElement('span')
    span.className = c
    span.textContent = text
    li.appendChild(span)
  }
  el.appendChild(li)
  while (el.children.length > 200) el.firstChild.remove()
  el.scrollTop = el.scrollHeight
}

async function pollConnections() {
  if (!$('panel-shared').hidden) {
    try {
      const res = await fetch('/metrics', { cache: 'no-store' })
      const m = res.ok ? /^herald_connections (\d+)/m.exec(await res.text()) : null
      $('shared-connections').textContent = m ? m[1] : res.ok ? '—' : 'needs the admin token'
    } catch { $('shared-connections').textContent = '—' }
  }
  setTimeout(pollConnections, 1000)
}

function start() {
  if (started) return
  started = true
  const h = herald()
  $('shared-mode').textContent = MODES[h.mode]
  h.status.subscribe(s => {
    const el = $('shared-conn')
    el.dataset.state = s === 'ended' ? 'done' : s
    el.querySelector('.label').textContent = LABELS[s]
  })
  const sub = h.subscribe(['raffle:demo'], {
    onReset: r => log('reset', 'history unavailable (' + r.reason + '); the next update repaints'),
  })
  sub.on('odds', ev => {
    const s = ev.json()
    $('shared-events').textContent = ++events
    log('odds', (s.last || 'someone') + ' entered → ' + s.entries + ' entries · id=' + ev.id)
  })
  pollConnections()
  window.heraldShared = { h, events: () => events }
}

$('shared-open').addEventListener('click', () => window.open('/demo#shared', '_blank'))
$('shared-enter').addEventListener('click', async () => {
  const res = await fetch('/demo/raffle/enter', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
  if (!res.ok) log('error', 'entry failed: HTTP ' + res.status)
})
$('tab-shared').addEventListener('click', start)
if (location.hash === '#shared') start()
