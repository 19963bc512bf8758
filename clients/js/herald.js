// herald.js: one Herald stream per browser origin, shared by every tab.
//
// A SharedWorker (this same file) holds the one stream for the union of the topics every tab
// wants; without SharedWorker the tabs elect a leader with Web Locks and share its stream over
// a BroadcastChannel; with neither, each tab keeps its own stream. The stream is a fetch of
// /v1/events read as text/event-stream, so the library sees status codes (204 ends, 401/403
// renew the token) and id-only blocks, and sends the token as an Authorization header.
// See README.md for the API and the cursor rule.

// ---- pure parts (exported for tests) ----------------------------------------------------

/** Splits a Herald cursor ("e-1.2.f-3") into full positions (["e-1","e-2","f-3"]). */
export function parseCursor(id) {
  let epoch = null
  const out = []
  for (const part of String(id).split('.')) {
    const i = part.indexOf('-')
    if (i >= 0) epoch = part.slice(0, i)
    const seq = i >= 0 ? part.slice(i + 1) : part
    if (epoch === null || !/^(0|[1-9]\d*)$/.test(seq) || !/^[0-9a-z]*$/.test(epoch)) return null
    out.push(epoch + '-' + seq)
  }
  return out
}

/** Joins full positions into a cursor, omitting an epoch equal to the previous one's. */
export function formatCursor(ps) {
  let prev = null
  return ps.map(p => {
    const i = p.indexOf('-'), e = p.slice(0, i)
    const s = e === prev ? p.slice(i + 1) : p
    prev = e
    return s
  }).join('.')
}

/**
 * The cursor for a stream of `topics` (sorted) from the positions already known: every known
 * topic keeps its exact position; a topic not seen yet gets "-0" ("saw nothing"), from which
 * the server replays its retained history.
 */
export function mergeCursor(topics, known) {
  return formatCursor(topics.map(t => known.get(t) || '-0'))
}

/** Reports whether position a comes after b (another epoch counts as after: a reset). */
export function newer(a, b) {
  if (!b) return true
  const i = a.indexOf('-'), j = b.indexOf('-')
  if (a.slice(0, i) !== b.slice(0, j)) return true
  return BigInt(a.slice(i + 1)) > BigInt(b.slice(j + 1))
}

/** The claims of a JWT, read without verifying it, or null. */
export function jwtClaims(token) {
  try {
    const p = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const c = JSON.parse(atob(p + '='.repeat(-p.length & 3)))
    return c && typeof c == 'object' ? c : null
  } catch { return null }
}

/**
 * Milliseconds from now until a token should be renewed: its lifetime (exp − iat, so a skewed
 * browser clock does not matter) less a margin of half of it, at least 1 s and at most 5 min;
 * -1 for a token without exp.
 */
export function renewDelay(token, now = Date.now()) {
  const c = jwtClaims(token)
  if (!c || typeof c.exp != 'number') return -1
  const life = (typeof c.iat == 'number' ? c.exp - c.iat : c.exp - now / 1e3) * 1e3
  return Math.max(0, Math.round(life - Math.max(1000, Math.min(life / 2, 300000))))
}

/** Full-jitter back-off: a random delay in [0, min(cap, base·2^attempt)). */
export function backoff(attempt, base, cap = 30000, rnd = Math.random) {
  return Math.floor(rnd() * Math.min(cap, base * 2 ** Math.min(attempt, 20)))
}

/** Parses a text/event-stream incrementally; onBlock gets {id, event, data} per block. */
export function sseParser(onBlock, onRetry) {
  let buf = '', data = null, event = '', id
  return chunk => {
    buf += chunk
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (line === '') {
        if (data !== null || id !== undefined) onBlock({ id, event: event || 'message', data })
        data = null; event = ''; id = undefined
        continue
      }
      const c = line.indexOf(':')
      if (c === 0) continue
      const f = c < 0 ? line : line.slice(0, c)
      let v = c < 0 ? '' : line.slice(c + 1)
      if (v[0] === ' ') v = v.slice(1)
      if (f === 'data') data = data === null ? v : data + '\n' + v
      else if (f === 'event') event = v
      else if (f === 'id' && !v.includes('\0')) id = v
      else if (f === 'retry' && /^\d+$/.test(v)) onRetry(+v)
    }
  }
}

// ---- the hub: one stream for the union of every client's topics ------------------------

const never = () => new Promise(() => {})
// fatal reports an answer that retrying cannot change (a bad or forbidden topic).
const fatal = status => status >= 400 && status < 500 && status !== 408 && status !== 429
const sleep = (ms, signal) => new Promise(r => {
  const done = () => { clearTimeout(t); signal.removeEventListener('abort', done); r() }
  const t = setTimeout(done, ms)
  signal.addEventListener('abort', done)
})

/**
 * Hub holds the one stream (in the SharedWorker, the leader tab, or each tab). Clients (tabs)
 * register subscriptions with topics; the hub keeps the stream open for their union and routes
 * each event to the clients whose topics it is of. getToken() resolves to a token or null; a
 * client is {send(msg), subs: Map}. Exported for the unit tests, not part of the API.
 */
export class Hub {
  constructor(url, getToken, pos = new Map(), ended = new Map()) {
    Object.assign(this, { url, getToken, pos, ended, clients: new Map(), topics: [], watch: new Set(), probes: new Map(), status: 'connecting', retry: 1000 })
  }

  // handle applies a client's message: {t: 'sub', s, topics}, {t: 'unsub', s} or {t: 'bye'}.
  handle(cid, m, send) {
    let c = this.clients.get(cid)
    if (!c) {
      this.clients.set(cid, c = { send, subs: new Map() })
      // The client's liveness lock is granted to us when its tab is gone.
      globalThis.navigator?.locks?.request('herald-tab:' + cid, () => this.drop(cid))
    }
    if (m.t === 'sub') {
      const done = m.topics.filter(t => this.ended.has(t))
      c.subs.set(m.s, { ts: m.topics.filter(t => !this.ended.has(t)), e: m.e })
      send({ t: 'status', v: this.status })
      if (done.length) send({ t: 'end', topics: done })
    } else if (m.t === 'unsub') c.subs.delete(m.s)
    else if (m.t === 'bye') this.clients.delete(cid)
    this.update()
  }

  drop(cid) { this.clients.delete(cid); this.update() }

  // update reopens the stream (soon, once) when the union of the topics changed.
  update() {
    clearTimeout(this.upd)
    this.upd = setTimeout(() => {
      const u = new Set()
      this.watch = new Set()
      for (const c of this.clients.values())
        for (const { ts, e } of c.subs.values()) ts.forEach(t => { u.add(t); if (e) this.watch.add(t) })
      const topics = [...u].sort()
      if (topics.join('\n') === this.topics.join('\n')) return
      this.topics = topics
      this.restart()
    }, 5)
  }

  restart() {
    if (this.ctl) this.ctl.abort()
    if (this.topics.length) this.run()
  }

  close() { this.clients.clear(); this.topics = []; this.restart() }

  // finish ends topics for good: their subscriptions are told, and the stream goes on
  // without them.
  finish(ts) {
    ts.forEach(t => this.ended.set(t, this.pos.get(t)))
    this.emit({ t: 'end', topics: ts }, ts)
    for (const c of this.clients.values())
      for (const x of c.subs.values()) x.ts = x.ts.filter(t => !this.ended.has(t))
    this.update()
  }

  // probe asks, once a topic of a multi-topic stream has been quiet for a second, whether it
  // ended: the server ends a stream only when all its topics did, so a final event of one
  // topic is invisible in the stream. A HEAD with the topic's position answers 204 if so.
  probe(t) {
    clearTimeout(this.probes.get(t))
    this.probes.set(t, setTimeout(async () => {
      const p = this.pos.get(t), r = await this.head(t, p)
      if (r?.status === 204 && this.pos.get(t) === p && this.topics.includes(t)) this.finish([t])
    }, 1000))
  }

  // head asks about one topic alone, without opening a stream: 204 when it ended at
  // position p, 4xx when the server refuses it.
  async head(t, p = '-0') {
    const u = new URL(this.url), tok = await this.token().catch(() => null)
    u.searchParams.set('topic', t)
    u.searchParams.set('lastEventID', p)
    return fetch(u, { method: 'HEAD', cache: 'no-store', credentials: 'same-origin', headers: tok ? { Authorization: 'Bearer ' + tok } : {} }).catch(() => null)
  }

  emit(m, topics) {
    const sends = new Set()
    for (const c of this.clients.values())
      for (const { ts } of c.subs.values()) if (ts.some(t => topics.includes(t))) sends.add(c.send)
    sends.forEach(s => s(m))
  }

  setStatus(v) {
    if (v === this.status) return
    this.status = v
    const sends = new Set([...this.clients.values()].map(c => c.send))
    sends.forEach(s => s({ t: 'status', v }))
  }

  async token(fresh) {
    if (fresh || this.tok === undefined) this.tok = await this.getToken()
    return this.tok
  }

  // run is one stream's life: connect, read, reconnect with back-off, until its topics
  // change (restart aborts it) or every topic ended.
  async run() {
    const ctl = this.ctl = new AbortController(), sig = ctl.signal, topics = this.topics
    if (this.status !== 'live') this.setStatus('connecting') // a planned reopen stays live
    let attempt = 0, authRetry = false, fresh = false
    while (!sig.aborted) {
      let renew, stop, clean = false
      try {
        const tok = await this.token(fresh)
        fresh = false
        if (sig.aborted) return
        const u = new URL(this.url)
        topics.forEach(t => u.searchParams.append('topic', t))
        u.searchParams.set('lastEventID', mergeCursor(topics, this.pos))
        const res = await fetch(u, {
          signal: sig, cache: 'no-store', credentials: 'same-origin',
          headers: tok ? { Authorization: 'Bearer ' + tok, Accept: 'text/event-stream' } : { Accept: 'text/event-stream' },
        })
        if (res.status === 204) {
          this.setStatus('ended')
          this.finish(topics)
          return
        }
        if (res.status === 401 || res.status === 403) {
          await res.body?.cancel()
          if (!authRetry) { authRetry = fresh = true; continue }
          throw { fatal: true, status: res.status, message: 'herald: token refused (' + res.status + ')' }
        }
        if (res.status !== 200) {
          const text = await res.text()
          throw { fatal: fatal(res.status), status: res.status, message: 'herald: ' + res.status + ' ' + text.slice(0, 200) }
        }
        authRetry = false
        // Renew the token before it expires, then reopen with it and the current cursor.
        const rctl = new AbortController(), d = tok ? renewDelay(tok) : -1
        if (d >= 0) renew = setTimeout(() => this.token(true).then(() => rctl.abort(), () => {}), d)
        sig.addEventListener('abort', stop = () => rctl.abort())
        clean = await this.read(res, topics, rctl.signal, () => { attempt = 0; this.setStatus('live') })
        if (rctl.signal.aborted && !sig.aborted) continue // renewed: reopen at once
      } catch (e) {
        if (sig.aborted) return
        if (e && e.fatal) {
          // One tab's bad or forbidden topic must not stop the others' stream: ask about
          // each topic alone, and drop only those refused.
          let bad = topics
          if (topics.length > 1) {
            const rs = await Promise.all(topics.map(t => this.head(t)))
            bad = topics.filter((t, i) => fatal(rs[i]?.status))
            if (sig.aborted) return
            if (!bad.length) bad = topics
          }
          this.emit({ t: 'err', status: e.status, message: e.message, topics: bad }, bad)
          for (const c of this.clients.values())
            for (const x of c.subs.values()) x.ts = x.ts.filter(t => !bad.includes(t))
          if (bad.length < topics.length) return this.update() // reopens without them
          this.topics = []
          this.setStatus('ended')
          return
        }
      } finally {
        clearTimeout(renew)
        sig.removeEventListener('abort', stop)
      }
      if (sig.aborted) return
      this.setStatus('reconnecting')
      await sleep(clean ? backoff(0, this.retry) : backoff(++attempt, this.retry), sig)
    }
  }

  // read consumes one response; it reports whether the stream ended cleanly.
  async read(res, topics, signal, opened) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    signal.addEventListener('abort', () => reader.cancel().catch(() => {}))
    let cur = topics.map(t => this.pos.get(t) || '-0'), first = true
    const parse = sseParser(b => {
      if (b.id === undefined) return
      const ps = parseCursor(b.id)
      if (!ps || ps.length !== topics.length) return
      // The topic of an event is the one whose position moved; a position that only gained
      // its epoch (seq 0, "saw nothing") moved by no event.
      const changed = topics.filter((t, i) => ps[i] !== cur[i] && !ps[i].endsWith('-0'))
      cur = ps
      topics.forEach((t, i) => this.pos.set(t, ps[i]))
      if (b.data === null) return
      const pos = Object.fromEntries(changed.map(t => [t, this.pos.get(t)]))
      if (b.event === 'reset') {
        let r = {}
        try { r = JSON.parse(b.data) } catch {}
        const ts = (r.topics || topics).filter(t => topics.includes(t))
        ts.forEach(t => { pos[t] = this.pos.get(t) })
        this.emit({ t: 'reset', topics: ts, reason: r.reason, cursor: b.id, pos }, ts)
      } else if (changed.length === 1) {
        this.emit({ t: 'ev', topic: changed[0], event: b.event, data: b.data, id: pos[changed[0]], cursor: b.id }, changed)
        if (topics.length > 1 && this.watch.has(changed[0])) this.probe(changed[0])
      }
    }, ms => { this.retry = ms })
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return !signal.aborted
      if (first) { first = false; opened() }
      parse(value)
    }
  }
}

// ---- the page side ------------------------------------------------------------------------

const uid = () => Math.random().toString(36).slice(2) + Date.now().toString(36)

/**
 * herald opens this page's handle on the origin's shared stream.
 * opts: {url = '/v1/events', token?: () => Promise<string|null>, share = 'auto' | 'worker' |
 * 'locks' | 'tab', workerURL = this module's URL}.
 */
export function herald(opts = {}) {
  const url = new URL(opts.url || '/v1/events', location.href).href
  const tokenFn = async () => (opts.token ? await opts.token() : null) ?? null
  const tab = uid(), subs = new Map(), pos = new Map(), ended = new Map(), watchers = new Set()
  const L = navigator.locks, W = globalThis.SharedWorker, BC = globalThis.BroadcastChannel
  let share = opts.share || 'auto', post, hub, resign, n = 0
  if (share === 'auto') share = W ? 'worker' : L && BC ? 'locks' : 'tab'
  const status = {
    value: 'connecting',
    subscribe(f) { watchers.add(f); f(status.value); return () => watchers.delete(f) },
  }

  // receive handles a message from the hub, wherever the hub runs. Every tab keeps the
  // position of each topic it heard of, drops what it has seen (a new leader may replay), and
  // could take over the stream from there.
  const receive = m => {
    if (m.t === 'status') {
      if (m.v !== status.value) { status.value = m.v; watchers.forEach(f => f(m.v)) }
    } else if (m.t === 'tok?') {
      tokenFn().catch(() => null).then(v => post({ t: 'tok', n: m.n, v }))
    } else if (m.t === 'ev') {
      if (!newer(m.id, pos.get(m.topic))) return
      pos.set(m.topic, m.id)
      const ev = { topic: m.topic, event: m.event, data: m.data, id: m.id, cursor: m.cursor, json: () => JSON.parse(m.data) }
      for (const s of subs.values()) if (s.topics.includes(m.topic)) s.deliver(ev)
    } else if (m.t === 'reset') {
      for (const [t, p] of Object.entries(m.pos)) pos.set(t, p)
      for (const s of subs.values()) {
        const ts = m.topics.filter(t => s.topics.includes(t))
        if (ts.length) s.o.onReset?.({ topics: ts, reason: m.reason, cursor: m.cursor })
      }
    } else if (m.t === 'end') {
      m.topics.forEach(t => ended.set(t, pos.get(t)))
      for (const s of subs.values()) if (s.topics.every(t => ended.has(t))) s.end()
    } else if (m.t === 'err') {
      for (const s of subs.values()) if (s.topics.some(t => m.topics.includes(t))) s.o.onError?.(m)
    }
  }

  // held resolves once this tab holds its liveness lock (see Hub.handle).
  const held = L ? new Promise(r => L.request('herald-tab:' + tab, () => (r(), never()))) : Promise.resolve()

  const subMsg = (s, x) => ({ t: 'sub', s, topics: x.topics, e: !!x.o.onEnd })
  const setup = () => share === 'worker' ? worker() : share === 'locks' ? locks() : (hub = new Hub(url, tokenFn), post = m => hub.handle(tab, m, receive))
  const worker = () => {
    // A worker that cannot start (a script from another origin, a Content-Security-Policy
    // that refuses it): share without it, and hand over the subscriptions made meanwhile.
    const fallback = () => {
      if (share !== 'worker') return
      share = L && BC ? 'locks' : 'tab'
      setup()
      resubscribe()
    }
    let w
    try {
      w = new W(opts.workerURL || import.meta.url, { type: 'module', name: 'herald ' + url })
    } catch {
      post = () => {}
      return fallback()
    }
    w.onerror = fallback
    w.port.onmessage = e => receive(e.data)
    post = m => w.port.postMessage(m)
    post({ t: 'hi', url, tab })
  }
  const locks = () => {
    // Followers post their subscriptions on the channel; the leader's hub broadcasts events.
    const bc = new BC('herald ' + url)
    const send = m => { bc.postMessage(m); receive(m) }
    const state = () => { for (const [s, x] of subs) bc.postMessage({ ...subMsg(s, x), from: tab }) }
    bc.onmessage = ({ data: m }) => {
      if (m.from) hub?.handle(m.from, m, send)
      else if (m.t === 'who') state()
      else receive(m)
    }
    post = m => hub ? hub.handle(tab, m, send) : bc.postMessage({ ...m, from: tab })
    L.request('herald-leader ' + url, () => {
      hub = new Hub(url, tokenFn, new Map(pos), new Map(ended))
      for (const [s, x] of subs) hub.handle(tab, subMsg(s, x), send)
      bc.postMessage({ t: 'who' })
      return new Promise(r => { resign = r })
    })
  }
  const resubscribe = () => held.then(() => { for (const [s, x] of subs) post(subMsg(s, x)) })
  setup()
  // A page leaving says goodbye; one coming back from the back/forward cache subscribes again.
  addEventListener('pagehide', () => post({ t: 'bye' }))
  addEventListener('pageshow', e => e.persisted && resubscribe())

  return {
    get mode() { return share },
    status,
    subscribe(topics, o = {}) {
      topics = [...new Set(topics)].sort()
      // Herald's topic rule, checked here: one tab's bad topic would fail the shared stream.
      if (!topics.length || !topics.every(t => /^[\x21-\x7e]{1,255}$/.test(t))) {
        throw new TypeError('herald: topics must be 1-255 bytes of printable ASCII without spaces: ' + JSON.stringify(topics))
      }
      const s = tab + '.' + ++n, listeners = new Map()
      let open = true
      const close = () => { if (open) { open = false; subs.delete(s); post({ t: 'unsub', s }) } }
      subs.set(s, {
        topics, o,
        deliver(ev) {
          if (!open) return
          o.onEvent?.(ev)
          listeners.get(ev.event)?.forEach(f => f(ev))
        },
        end() { if (open) { close(); o.onEnd?.() } },
      })
      held.then(() => open && post(subMsg(s, subs.get(s))))
      return {
        topics,
        on(name, f) {
          if (!listeners.has(name)) listeners.set(name, new Set())
          listeners.get(name).add(f)
          return () => listeners.get(name).delete(f)
        },
        close,
      }
    },
    close() {
      for (const s of subs.keys()) post({ t: 'unsub', s })
      subs.clear()
      post({ t: 'bye' })
      if (resign || share === 'tab') { hub.close(); hub = null; resign?.() }
    },
  }
}

// ---- the SharedWorker side: this same module, started by herald() -------------------------

if (typeof SharedWorkerGlobalScope == 'function' && self instanceof SharedWorkerGlobalScope) {
  let hub, n = 0
  const ports = new Map(), waiting = new Map()
  // A token comes from a tab: ask them in turn until one answers.
  const getToken = async () => {
    for (const [cid, p] of ports) {
      const k = ++n
      const v = await new Promise(r => {
        waiting.set(k, r)
        p.postMessage({ t: 'tok?', n: k })
        setTimeout(r, 10000)
      })
      waiting.delete(k)
      if (v !== undefined) return v
    }
    return null
  }
  self.onconnect = e => {
    const p = e.ports[0]
    let cid
    p.onmessage = ({ data: m }) => {
      if (m.t === 'hi') {
        ports.set(cid = m.tab, p)
        if (!hub) {
          hub = new Hub(m.url, getToken)
          const drop = hub.drop.bind(hub)
          hub.drop = id => { ports.delete(id); drop(id) }
        }
      } else if (m.t === 'tok') waiting.get(m.n)?.(m.v)
      else {
        if (m.t === 'bye') ports.delete(cid)
        hub.handle(cid, m, x => p.postMessage(x))
      }
    }
  }
}
