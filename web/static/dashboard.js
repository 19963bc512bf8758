// Herald dashboard: subscribes to the herald:stats topic over Herald's own SSE stream and
// renders the node's figures (metrics.Snapshot, one "stats" event per second) as cards and
// two-minute charts. Plain browser JavaScript, no dependencies, no build step.
(function () {
  'use strict';

  var HISTORY = 120;         // points kept per chart: two minutes at one per second
  var STALE_MS = 5000;       // no stats for this long while open: say so
  var REASONS = ['client_closed', 'lifetime', 'slow_consumer', 'shutdown', 'final', 'error'];
  var REASON_TEXT = {
    client_closed: 'Client closed', lifetime: 'Lifetime', slow_consumer: 'Slow consumer',
    shutdown: 'Shutdown', final: 'Final event', error: 'Error'
  };

  var $ = function (id) { return document.getElementById(id); };

  // ---- formatting -------------------------------------------------------------------

  // num returns x when it is a finite number, else null: every field may be missing.
  function num(x) { return typeof x === 'number' && isFinite(x) ? x : null; }

  function fmtCount(x) {
    x = num(x);
    if (x === null) return '—';
    var a = Math.abs(x);
    if (a >= 1e9) return (x / 1e9).toFixed(a >= 1e10 ? 1 : 2) + 'G';
    if (a >= 1e6) return (x / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M';
    if (a >= 1e4) return (x / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    return Math.round(x).toLocaleString('en-US');
  }

  function fmtRate(x) {
    x = num(x);
    if (x === null) return '—';
    if (x > 0 && x < 10) return x.toFixed(1);
    return fmtCount(x);
  }

  function fmtSeconds(s) {
    s = num(s);
    if (s === null) return '—';
    if (s < 1e-3) return (s * 1e6).toFixed(0) + ' µs';
    if (s < 1) {
      var ms = s * 1e3;
      return (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
    }
    return s.toFixed(s < 10 ? 2 : 1) + ' s';
  }

  function fmtBytes(b) {
    b = num(b);
    if (b === null) return '—';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function fmtUptime(s) {
    s = num(s);
    if (s === null) return '—';
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + String(m).padStart(2, '0') + 'm';
    if (m > 0) return m + 'm ' + String(s % 60).padStart(2, '0') + 's';
    return s + 's';
  }

  function setText(id, text) {
    var el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  // ---- charts -------------------------------------------------------------------------

  var SVG = 'http://www.w3.org/2000/svg';

  function el(name, attrs) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  // niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // path draws series (null = gap) into a w×h box scaled to max, right-aligned so that the
  // newest point is at the right edge and the chart scrolls left.
  function path(series, w, h, max, pad) {
    var step = w / (HISTORY - 1), off = HISTORY - series.length, d = '', pen = false;
    for (var i = 0; i < series.length; i++) {
      var v = series[i];
      if (v === null) { pen = false; continue; }
      var x = (off + i) * step, y = h - pad - (Math.min(v, max) / max) * (h - 2 * pad);
      d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
      pen = true;
    }
    return d;
  }

  function areaPath(series, w, h, max, pad) {
    // Close each run of points down to the baseline.
    var step = w / (HISTORY - 1), off = HISTORY - series.length, d = '', start = -1;
    function close(i) { if (start >= 0) d += 'L' + ((off + i) * step).toFixed(1) + ' ' + h + 'L' + ((off + start) * step).toFixed(1) + ' ' + h + 'Z'; }
    for (var i = 0; i < series.length; i++) {
      var v = series[i];
      if (v === null) { close(i - 1); start = -1; continue; }
      var x = (off + i) * step, y = h - pad - (Math.min(v, max) / max) * (h - 2 * pad);
      d += (start < 0 ? 'M' : 'L') + x.toFixed(1) + ' ' + y.toFixed(1);
      if (start < 0) start = i;
    }
    close(series.length - 1);
    return d;
  }

  function sparkline(svg, series, cls) {
    if (!svg) return;
    var w = 240, h = 48, vals = series.filter(function (v) { return v !== null; });
    var max = niceMax(Math.max.apply(null, vals.concat([0])) * 1.1);
    svg.textContent = '';
    svg.appendChild(el('path', { d: areaPath(series, w, h, max, 3), class: 'area ' + cls }));
    svg.appendChild(el('path', { d: path(series, w, h, max, 3), class: 'line ' + cls, 'vector-effect': 'non-scaling-stroke' }));
  }

  function latencyChart(svg, p50, p90, p99) {
    var w = 640, h = 180, all = p50.concat(p90, p99).filter(function (v) { return v !== null; });
    var max = niceMax(Math.max.apply(null, all.concat([0])) * 1.05);
    svg.textContent = '';
    for (var g = 1; g <= 3; g++) {
      var y = (h * g / 4).toFixed(1);
      svg.appendChild(el('line', { x1: 0, x2: w, y1: y, y2: y, class: 'gridline', 'vector-effect': 'non-scaling-stroke' }));
    }
    svg.appendChild(el('path', { d: areaPath(p99, w, h, max, 4), class: 'area p99' }));
    [['p99', p99], ['p90', p90], ['p50', p50]].forEach(function (s) {
      svg.appendChild(el('path', { d: path(s[1], w, h, max, 4), class: 'line ' + s[0], 'vector-effect': 'non-scaling-stroke' }));
    });
    setText('latency-max', all.length ? fmtSeconds(max) : '');
    $('latency-empty').hidden = all.length > 0;
  }

  // ---- state --------------------------------------------------------------------------

  var hist = { connections: [], topics: [], publish: [], delivery: [], p50: [], p90: [], p99: [], disc: [] };
  var discHist = [];   // {t, counts} per snapshot, for per-minute rates
  var lastTime = 0;    // snapshot time of the last one shown, to drop replays and duplicates
  var lastStats = 0;   // Date.now() of the last stats event

  function push(key, v) {
    var s = hist[key];
    s.push(v);
    if (s.length > HISTORY) s.shift();
  }

  function render(s) {
    var t = Date.parse(s.time);
    if (t && t <= lastTime) return; // replayed or repeated snapshot
    if (t) lastTime = t;
    var lat = s.latency && typeof s.latency === 'object' ? s.latency : null;

    push('connections', num(s.connections));
    push('topics', num(s.topics));
    push('publish', num(s.publishRate));
    push('delivery', num(s.deliveryRate));
    push('p50', lat ? num(lat.p50) : null);
    push('p90', lat ? num(lat.p90) : null);
    push('p99', lat ? num(lat.p99) : null);

    setText('v-connections', fmtCount(s.connections));
    setText('s-connections', num(s.connectionsTotal) !== null ? fmtCount(s.connectionsTotal) + ' opened since start' : '\u00a0');
    setText('v-topics', fmtCount(s.topics));
    setText('v-publish', fmtRate(s.publishRate));
    setText('v-delivery', fmtRate(s.deliveryRate));
    var win = num(s.rateWindowSeconds);
    var fanout = num(s.publishRate) && num(s.deliveryRate) !== null ? s.deliveryRate / s.publishRate : null;
    setText('s-publish', win ? 'over the last ' + Math.round(win) + ' s' : 'measuring…');
    setText('s-delivery', fanout !== null ? '× ' + fmtRate(fanout) + ' fan-out' : (win ? 'over the last ' + Math.round(win) + ' s' : 'measuring…'));

    setText('v-p50', lat ? fmtSeconds(lat.p50) : '—');
    setText('v-p90', lat ? fmtSeconds(lat.p90) : '—');
    setText('v-p99', lat ? fmtSeconds(lat.p99) : '—');
    if (lat && num(lat.windowSeconds)) setText('lat-window', 'last ' + Math.round(lat.windowSeconds) + ' s' + (num(lat.count) !== null ? ' · ' + fmtCount(lat.count) + ' deliveries' : ''));

    sparkline($('c-connections'), hist.connections, 'c1');
    sparkline($('c-topics'), hist.topics, 'c2');
    sparkline($('c-publish'), hist.publish, 'c3');
    sparkline($('c-delivery'), hist.delivery, 'c4');
    latencyChart($('c-latency'), hist.p50, hist.p90, hist.p99);

    renderReasons(s.disconnects, t || Date.now());

    var up = s.engineUp;
    var engine = $('v-engine');
    var state = up === true ? 'up' : up === false ? 'down' : 'unknown';
    if (engine.dataset.state !== state) {
      engine.dataset.state = state;
      engine.innerHTML = '<span class="pill ' + state + '">' + (state === 'up' ? 'Up' : state === 'down' ? 'Down' : '—') + '</span>';
    }
    setText('v-uptime', fmtUptime(s.uptimeSeconds));
    setText('v-conntotal', fmtCount(s.connectionsTotal));
    setText('v-pubtotal', fmtCount(s.publishedTotal));
    setText('v-deltotal', fmtCount(s.deliveredTotal));
    setText('v-replayed', fmtCount(s.replayedTotal));
    setText('v-resets', s.resets && typeof s.resets === 'object' ? fmtCount(sum(s.resets)) : '—');
    setText('v-goroutines', fmtCount(s.goroutines));
    setText('v-heap', fmtBytes(s.heapBytes));
    setText('updated', t ? 'Updated ' + new Date(t).toLocaleTimeString() : '\u00a0');
  }

  function sum(o) {
    var n = 0;
    for (var k in o) if (num(o[k]) !== null) n += o[k];
    return n;
  }

  function renderReasons(d, t) {
    var ul = $('reasons');
    if (!d || typeof d !== 'object') {
      ul.innerHTML = '<li class="empty-state">No disconnect figures in the stats</li>';
      return;
    }
    var prev = discHist.length ? discHist[discHist.length - 1] : null;
    var rate = prev && t > prev.t ? Math.max(0, sum(d) - sum(prev.d)) / ((t - prev.t) / 1000) : null;
    push('disc', rate);
    setText('v-discrate', rate !== null ? fmtRate(rate) + '/s' : '—');
    sparkline($('c-disc'), hist.disc, 'c5');
    discHist.push({ t: t, d: d });
    while (discHist.length > 1 && t - discHist[0].t > 60000) discHist.shift();
    var base = discHist[0], span = (t - base.t) / 60000;

    var names = REASONS.slice();
    for (var k in d) if (names.indexOf(k) < 0) names.push(k);
    var max = 0;
    names.forEach(function (r) { max = Math.max(max, num(d[r]) || 0); });
    var total = sum(d);

    var html = '';
    names.forEach(function (r) {
      var v = num(d[r]);
      var perMin = span > 0 && v !== null && num(base.d[r]) !== null ? (v - base.d[r]) / span : null;
      var pct = max > 0 && v ? Math.max(2, v / max * 100) : 0;
      html += '<li class="reason r-' + r.replace(/[^a-z_]/g, '') + '">' +
        '<span class="rname">' + (REASON_TEXT[r] || r.replace(/[<>&"]/g, '')) + '</span>' +
        '<span class="rbar"><i style="width:' + pct.toFixed(1) + '%"></i></span>' +
        '<span class="rcount">' + fmtCount(v) + '</span>' +
        '<span class="rrate">' + (perMin !== null ? fmtRate(perMin) + '/min' : '') + '</span></li>';
    });
    html += '<li class="reason total"><span class="rname">All reasons</span><span></span><span class="rcount">' + fmtCount(total) + '</span><span></span></li>';
    ul.innerHTML = html;
  }

  // ---- connection -----------------------------------------------------------------------

  function setConn(state, text) {
    var c = $('conn');
    c.dataset.state = state;
    setText('conn-text', text);
  }

  function streamURL() {
    var url = '/v1/events?topic=' + encodeURIComponent('herald:stats');
    var token = new URLSearchParams(location.search).get('token');
    if (token) url += '&token=' + encodeURIComponent(token);
    return url;
  }

  var es = null, retryTimer = null, backoff = 1000, everLive = false;

  function connect() {
    clearTimeout(retryTimer);
    if (es) es.close();
    setConn(everLive ? 'reconnecting' : 'connecting', everLive ? 'Reconnecting…' : 'Connecting…');
    es = new EventSource(streamURL());
    es.addEventListener('open', function () {
      backoff = 1000;
      setConn('connecting', 'Waiting for stats…');
    });
    es.addEventListener('stats', function (ev) {
      var s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      if (!s || typeof s !== 'object') return;
      lastStats = Date.now();
      everLive = true;
      setConn('live', 'Live');
      render(s);
    });
    es.addEventListener('error', function () {
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (auth, 204, 5xx): EventSource gives up, we do not.
        setConn('error', 'Offline · retrying in ' + Math.round(backoff / 1000) + ' s');
        retryTimer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      } else {
        setConn('reconnecting', 'Reconnecting…');
      }
    });
  }

  setInterval(function () {
    var c = $('conn');
    if (c.dataset.state === 'live' && Date.now() - lastStats > STALE_MS) setConn('reconnecting', 'No stats for ' + Math.round((Date.now() - lastStats) / 1000) + ' s');
  }, 1000);

  connect();
}());
