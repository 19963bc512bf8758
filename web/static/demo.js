// Herald live demo: the Scan pipeline and the Raffle, on plain EventSource.
//
// The page relies on Herald's stream contract only:
//  - every event has an id (a cursor); EventSource resends the last one as Last-Event-ID when
//    it reconnects, and the gateway resumes right after it;
//  - ?lastEventID=earliest replays a task topic from its first event, so subscribing after
//    the task started loses nothing;
//  - a final event ends the stream, and a reconnect after it gets 204, which stops EventSource.
// On top of that the page is idempotent by event id, so even a misbehaving proxy that replays
// an event cannot show a step twice.
'use strict';

(() => {
  const STEPS = ['vision', 'rule', 'answer', 'reward'];
  const STEP_LABEL = { vision: 'Vision', rule: 'Rule', answer: 'Answer', reward: 'Reward' };
  const STATE_LABEL = { pending: 'Pending', processing: 'Running', completed: 'Done', failed: 'Failed', cancelled: 'Cancelled' };
  const DROP_MS = 1500;
  const MAX_LOG = 200;

  const $ = (id) => document.getElementById(id);

  function clock() {
    const d = new Date();
    return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  // makeLog returns a function appending a line to the <ul> log el.
  function makeLog(el) {
    return (kind, msg, cls) => {
      const empty = el.querySelector('.empty');
      if (empty) empty.remove();
      const li = document.createElement('li');
      if (cls) li.className = cls;
      for (const [c, text] of [['t', clock()], ['kind', kind], ['msg', msg]]) {
        const span = document.createElement('span');
        span.className = c;
        span.textContent = text;
        if (c === 'msg') span.title = text;
        li.appendChild(span);
      }
      const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
      el.appendChild(li);
      while (el.children.length > MAX_LOG) el.firstChild.remove();
      if (atBottom) el.scrollTop = el.scrollHeight;
    };
  }

  function setConn(el, state, label) {
    el.dataset.state = state;
    el.querySelector('.label').textContent = label;
  }

  function eventsURL(topic, cursor) {
    let u = '/v1/events?topic=' + encodeURIComponent(topic);
    if (cursor) u += '&lastEventID=' + encodeURIComponent(cursor);
    return u;
  }

  async function postJSON(url, body) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || 'HTTP ' + res.status);
    return data;
  }

  function parse(data) {
    try { return JSON.parse(data); } catch { return null; }
  }

  // ================= Scan =================

  const scanLog = makeLog($('scan-log'));
  const scan = {
    topic: null,
    es: null,
    seen: new Set(), // event ids already applied
    lastId: null,
    done: false,
    status: 'idle',
    progress: 0,
    events: 0,
    dups: 0,
    reconnects: 0,
    received: [], // {id, step, status, progress}, in arrival order (for tests and curious devs)
    dropTimer: null,
  };

  function renderScanCounters() {
    $('scan-events').textContent = scan.events;
    $('scan-reconnects').textContent = scan.reconnects;
    $('scan-dups').textContent = scan.dups;
  }

  function setProgress(p) {
    scan.progress = Math.max(scan.progress, Math.min(100, p | 0));
    $('scan-bar').style.width = scan.progress + '%';
    $('scan-pct').textContent = scan.progress + '%';
    $('scan-progress').setAttribute('aria-valuenow', String(scan.progress));
  }

  function setStep(step, state) {
    const li = document.querySelector('.step[data-step="' + step + '"]');
    if (!li) return;
    li.dataset.state = state;
    li.querySelector('.state').textContent = STATE_LABEL[state] || state;
  }

  function resetScanView() {
    for (const s of STEPS) setStep(s, 'pending');
    scan.progress = 0;
    setProgress(0);
    $('scan-progress').dataset.state = '';
    $('scan-result').hidden = true;
    $('scan-result-points').hidden = true;
    $('scan-topic').textContent = '—';
  }

  function closeScanStream() {
    if (scan.dropTimer) { clearTimeout(scan.dropTimer); scan.dropTimer = null; }
    if (scan.es) { scan.es.close(); scan.es = null; }
  }

  async function startScan() {
    closeScanStream();
    Object.assign(scan, { topic: null, seen: new Set(), lastId: null, done: false, status: 'starting', events: 0, dups: 0, reconnects: 0, received: [] });
    resetScanView();
    renderScanCounters();
    const btn = $('scan-start');
    btn.disabled = true;
    $('scan-status').textContent = 'Starting the pipeline…';
    try {
      const r = await postJSON('/demo/scan', {});
      scan.topic = r.topic;
      $('scan-topic').textContent = r.topic;
      scanLog('publish', 'POST /demo/scan → ' + r.topic, 'sys');
      openScanStream('earliest');
      $('scan-drop').disabled = false;
    } catch (err) {
      scan.status = 'error';
      $('scan-status').textContent = 'Could not start: ' + err.message;
      setConn($('scan-conn'), 'error', 'Error');
      scanLog('error', err.message, 'dup');
      btn.disabled = false;
    }
  }

  function openScanStream(cursor) {
    const es = new EventSource(eventsURL(scan.topic, cursor));
    scan.es = es;
    setConn($('scan-conn'), 'connecting', 'Connecting…');
    scanLog('open', 'GET /v1/events?topic=' + scan.topic + '&lastEventID=' + cursor, 'sys');
    es.onopen = () => {
      if (scan.es !== es) return;
      setConn($('scan-conn'), 'live', 'Live');
    };
    es.onerror = () => {
      if (scan.es !== es || scan.done) return;
      if (es.readyState === EventSource.CLOSED) {
        setConn($('scan-conn'), 'error', 'Closed');
        scanLog('closed', 'the stream was refused; not reconnecting', 'dup');
        scan.es = null;
        return;
      }
      scan.reconnects++;
      renderScanCounters();
      setConn($('scan-conn'), 'reconnecting', 'Reconnecting…');
      scanLog('retry', 'connection lost; the browser reconnects with Last-Event-ID ' + (scan.lastId || '(none)'), 'sys');
    };
    for (const s of STEPS) es.addEventListener(s, (e) => onScanEvent(es, e));
    es.addEventListener('reset', (e) => {
      if (scan.es !== es) return;
      scanLog('reset', 'history unavailable: ' + e.data, 'dup');
      $('scan-status').textContent = 'The task history is gone (' + e.data + '); start a new scan.';
    });
  }

  function onScanEvent(es, e) {
    if (scan.es !== es) return; // a stream we already closed
    const id = e.lastEventId;
    if (id && scan.seen.has(id)) {
      scan.dups++;
      renderScanCounters();
      scanLog('dup', 'ignored duplicate ' + e.type + ' id=' + id, 'dup');
      return;
    }
    const d = parse(e.data);
    if (!d || typeof d !== 'object') {
      scanLog('skip', 'unreadable data in ' + e.type, 'dup');
      return;
    }
    if (id) { scan.seen.add(id); scan.lastId = id; }
    scan.events++;
    scan.received.push({ id, step: e.type, status: d.status, progress: d.progress });
    renderScanCounters();
    setStep(e.type, d.status);
    if (typeof d.progress === 'number') setProgress(d.progress);
    scanLog(e.type, d.status + ' · ' + d.progress + '% · id=' + id, d.status === 'completed' ? 'ok' : '');
    const label = STEP_LABEL[e.type] || e.type;
    $('scan-status').textContent = d.status === 'processing' ? label + ' is running…' : label + ' ' + d.status + '.';
    if (d.result) {
      $('scan-result-item').textContent = d.result.item + ' · ' + d.result.category + ' (' + Math.round(d.result.confidence * 100) + '% sure)';
      $('scan-result-disposal').textContent = d.result.disposal;
      $('scan-result').hidden = false;
    }
    if (d.reward) {
      $('scan-result-points').textContent = '+' + d.reward.points + ' pts';
      $('scan-result-points').hidden = false;
    }
    if (d.final) finishScan(d);
  }

  function finishScan(d) {
    scan.done = true;
    closeScanStream(); // the server ends the stream too; closing first avoids a pointless reconnect
    const ok = d.status === 'completed';
    scan.status = ok ? 'done' : d.status;
    $('scan-progress').dataset.state = ok ? 'done' : 'failed';
    setConn($('scan-conn'), 'done', ok ? 'Complete · stream closed' : 'Ended · ' + d.status);
    $('scan-status').textContent = ok ? 'Scan complete. Every step arrived exactly once.' : 'The pipeline was ' + d.status + '.';
    scanLog('final', 'final event received; stream closed', 'ok');
    $('scan-drop').disabled = true;
    const btn = $('scan-start');
    btn.disabled = false;
    btn.querySelector('span').textContent = 'Scan again';
  }

  function dropScan() {
    if (!scan.es || scan.done) return;
    scan.es.close();
    scan.es = null;
    scan.reconnects++;
    renderScanCounters();
    setConn($('scan-conn'), 'dropped', 'Offline · resuming in 1.5 s');
    scanLog('drop', 'simulated network drop after id=' + (scan.lastId || '(none)'), 'sys');
    $('scan-drop').disabled = true;
    scan.dropTimer = setTimeout(() => {
      scan.dropTimer = null;
      if (scan.done) return;
      openScanStream(scan.lastId || 'earliest');
      $('scan-drop').disabled = false;
    }, DROP_MS);
  }

  $('scan-start').addEventListener('click', startScan);
  $('scan-drop').addEventListener('click', dropScan);
  $('scan-log-clear').addEventListener('click', () => {
    $('scan-log').replaceChildren();
  });

  // ================= Raffle =================

  const raffleLog = makeLog($('raffle-log'));
  const raffle = {
    es: null,
    seen: new Set(),
    lastId: null,
    name: sessionStorage.getItem('herald-raffle-name') || '',
    state: null,
    updates: 0,
    started: false,
  };

  function pct(x) {
    return (Math.round(x * 1000) / 10).toFixed(1) + '%';
  }

  function renderRaffle(s, fresh) {
    if (!s || typeof s !== 'object' || !Array.isArray(s.entrants)) return;
    raffle.state = s;
    $('raffle-round').textContent = 'Round ' + (s.round || 1);
    $('raffle-entries').textContent = s.entries || 0;
    const me = s.entrants.find((e) => e.name === raffle.name);
    $('raffle-odds').textContent = me ? pct(me.odds) : '—';
    $('raffle-tickets').textContent = me ? me.tickets : 0;
    $('raffle-me').textContent = raffle.name ? 'You are ' + raffle.name + '.' : 'You have not entered yet.';
    const list = $('raffle-entrants');
    list.replaceChildren();
    if (s.entrants.length === 0) {
      const div = document.createElement('div');
      div.className = 'empty-state';
      div.textContent = 'No entries yet — be the first.';
      list.appendChild(div);
      return;
    }
    const sorted = [...s.entrants].sort((a, b) => b.tickets - a.tickets || a.name.localeCompare(b.name));
    let shown = sorted.slice(0, 8);
    if (me && !shown.includes(me)) shown = shown.slice(0, 7).concat(me);
    for (const e of shown) {
      const row = document.createElement('div');
      row.className = 'entrant' + (e.name === raffle.name ? ' me' : '') + (fresh && e.name === s.last ? ' flash' : '');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = e.name + (e.name === raffle.name ? ' (you)' : '');
      const track = document.createElement('span');
      track.className = 'track';
      const fill = document.createElement('span');
      fill.className = 'fill';
      fill.style.width = Math.max(2, e.odds * 100) + '%';
      fill.style.display = 'block';
      track.appendChild(fill);
      const p = document.createElement('span');
      p.className = 'pct';
      p.textContent = pct(e.odds);
      row.append(name, track, p);
      list.appendChild(row);
    }
    if (sorted.length > shown.length) {
      const more = document.createElement('div');
      more.className = 'muted small';
      more.textContent = '+ ' + (sorted.length - shown.length) + ' more entrants';
      list.appendChild(more);
    }
  }

  async function loadRaffleSnapshot() {
    const res = await fetch('/demo/raffle', { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    return res.json();
  }

  async function startRaffle() {
    if (raffle.started) return;
    raffle.started = true;
    setConn($('raffle-conn'), 'connecting', 'Connecting…');
    let cursor = 'earliest';
    try {
      const snap = await loadRaffleSnapshot();
      renderRaffle(snap, false);
      if (snap.id) { cursor = snap.id; raffle.lastId = snap.id; raffle.seen.add(snap.id); }
    } catch (err) {
      raffleLog('error', 'could not load the raffle: ' + err.message, 'dup');
    }
    const es = new EventSource(eventsURL('raffle:demo', cursor));
    raffle.es = es;
    es.onopen = () => setConn($('raffle-conn'), 'live', 'Live');
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        setConn($('raffle-conn'), 'error', 'Closed');
      } else {
        setConn($('raffle-conn'), 'reconnecting', 'Reconnecting…');
      }
    };
    es.addEventListener('odds', (e) => {
      const id = e.lastEventId;
      if (id && raffle.seen.has(id)) return;
      const s = parse(e.data);
      if (!s) return;
      if (id) { raffle.seen.add(id); raffle.lastId = id; }
      raffle.updates++;
      $('raffle-updates').textContent = raffle.updates + (raffle.updates === 1 ? ' update' : ' updates');
      renderRaffle(s, true);
      raffleLog('odds', (s.last || 'someone') + ' entered → ' + s.entries + (s.entries === 1 ? ' entry' : ' entries') + ' · id=' + id, s.last === raffle.name ? 'ok' : '');
    });
    es.addEventListener('reset', async (e) => {
      raffleLog('reset', 'history unavailable (' + e.data + '); reloading the state', 'sys');
      try { renderRaffle(await loadRaffleSnapshot(), false); } catch { /* the next update repaints */ }
    });
  }

  async function enterRaffle() {
    const btn = $('raffle-enter');
    btn.disabled = true;
    try {
      const r = await postJSON('/demo/raffle/enter', raffle.name ? { name: raffle.name } : {});
      if (r.name && r.name !== raffle.name) {
        raffle.name = r.name;
        sessionStorage.setItem('herald-raffle-name', r.name);
        if (raffle.state) renderRaffle(raffle.state, false);
      }
    } catch (err) {
      raffleLog('error', 'entry failed: ' + err.message, 'dup');
    } finally {
      btn.disabled = false;
    }
  }

  $('raffle-enter').addEventListener('click', enterRaffle);
  $('raffle-window').addEventListener('click', () => window.open('/demo#raffle', '_blank', 'noopener,width=1100,height=800'));

  // ================= Tabs =================

  function showTab(name) {
    for (const t of ['scan', 'raffle', 'shared']) {
      $('tab-' + t).setAttribute('aria-selected', String(t === name));
      $('panel-' + t).hidden = t !== name;
    }
    if (name === 'raffle') startRaffle();
  }
  $('tab-scan').addEventListener('click', () => { history.replaceState(null, '', '#scan'); showTab('scan'); });
  $('tab-raffle').addEventListener('click', () => { history.replaceState(null, '', '#raffle'); showTab('raffle'); });
  $('tab-shared').addEventListener('click', () => { history.replaceState(null, '', '#shared'); showTab('shared'); });
  showTab(location.hash === '#raffle' ? 'raffle' : location.hash === '#shared' ? 'shared' : 'scan');

  // Exposed for the browser tests and for poking around in the console.
  window.heraldDemo = { scan, raffle, startScan, dropScan, enterRaffle };
})();
