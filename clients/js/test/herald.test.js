// Unit tests of herald.js's pure parts, with Node's built-in runner: `node --test test/`.
// The browser behaviour (sharing, renewal, ends) is tested in Chromium by browser_test.go.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCursor, formatCursor, mergeCursor, newer, jwtClaims, renewDelay, backoff, sseParser, Hub } from '../herald.js'

test('parseCursor expands omitted epochs', () => {
  const cases = [
    ['k2x9q7ab-42', ['k2x9q7ab-42']],
    ['k2x9q7ab-42.7', ['k2x9q7ab-42', 'k2x9q7ab-7']],
    ['a-1.b-2.3', ['a-1', 'b-2', 'b-3']],
    ['-0.0', ['-0', '-0']],
    ['e-5.-0.f-2', ['e-5', '-0', 'f-2']],
  ]
  for (const [id, want] of cases) assert.deepEqual(parseCursor(id), want, id)
})

test('parseCursor refuses what the server refuses', () => {
  for (const id of ['', '42', 'a-01', 'A-1', 'a-1.', 'a-x', 'a-1.+2', 'a-1-2']) assert.equal(parseCursor(id), null, id)
})

test('formatCursor is the inverse of parseCursor', () => {
  for (const id of ['k2x9q7ab-42', 'k2x9q7ab-42.7', 'a-1.b-2.3', '-0.0.0', 'e-5.-0.f-2', 'e-5.6.-0.e-1']) {
    assert.equal(formatCursor(parseCursor(id)), id)
  }
})

test('mergeCursor keeps known topics exact and starts new ones at -0', () => {
  const known = new Map([['a', 'e-5'], ['c', 'e-9'], ['gone', 'x-1']])
  const cases = [
    [['a'], 'e-5'],
    [['a', 'c'], 'e-5.9'],
    [['a', 'b', 'c'], 'e-5.-0.e-9'], // b was added between two known topics
    [['b'], '-0'],
    [['b', 'd'], '-0.0'],
  ]
  for (const [topics, want] of cases) {
    assert.equal(mergeCursor(topics, known), want, topics.join(','))
    // Every known topic's position survives the round trip through the server's format.
    parseCursor(want).forEach((p, i) => assert.equal(p, known.get(topics[i]) || '-0'))
  }
})

test('newer compares within an epoch and treats another epoch as after', () => {
  assert.equal(newer('e-2', 'e-1'), true)
  assert.equal(newer('e-1', 'e-1'), false)
  assert.equal(newer('e-1', 'e-2'), false)
  assert.equal(newer('f-1', 'e-9'), true)
  assert.equal(newer('e-1', undefined), true)
  assert.equal(newer('e-18446744073709551615', 'e-18446744073709551614'), true) // beyond 2^53
})

const b64url = o => Buffer.from(JSON.stringify(o)).toString('base64url')
const jwt = claims => b64url({ alg: 'HS256', typ: 'JWT' }) + '.' + b64url(claims) + '.sig'

test('jwtClaims reads the payload without verifying', () => {
  assert.deepEqual(jwtClaims(jwt({ sub: 'u1', exp: 5, x: '??>>' })), { sub: 'u1', exp: 5, x: '??>>' })
  for (const bad of ['', 'abc', 'a.b.c', 'a.' + Buffer.from('[1]').toString('base64url') + '.c', null]) {
    const c = jwtClaims(bad)
    assert.ok(c === null || !('exp' in c), String(bad))
  }
})

test('renewDelay renews half the lifetime before exp, 1 s to 5 min ahead', () => {
  const cases = [
    [{ iat: 1000, exp: 1005 }, 2500], // 5 s token
    [{ iat: 0, exp: 300 }, 150000], // 5 min: at half
    [{ iat: 0, exp: 3600 }, 3300000], // an hour: 5 min ahead
    [{ iat: 0, exp: 86400 }, 86100000], // a day: 5 min ahead
    [{ iat: 10, exp: 11.5 }, 500], // 1.5 s: 1 s ahead
    [{ iat: 10, exp: 10.5 }, 0], // shorter than a second: at once
    [{ sub: 'x' }, -1], // no exp: never
  ]
  for (const [claims, want] of cases) assert.equal(renewDelay(jwt(claims)), want, JSON.stringify(claims))
  // Without iat the lifetime is counted from now.
  assert.equal(renewDelay(jwt({ exp: 100 }), 94000), 3000)
  assert.equal(renewDelay('not a jwt'), -1)
})

test('backoff is full jitter under an exponential cap', () => {
  const cases = [
    // attempt, base, cap, rnd, want
    [0, 1000, 30000, 0.5, 500],
    [1, 1000, 30000, 0.5, 1000],
    [3, 1000, 30000, 0.999, 7992],
    [10, 1000, 30000, 0.999, 29970],
    [1e6, 1000, 30000, 0.999, 29970], // no overflow
    [4, 1000, 30000, 0, 0],
  ]
  for (const [a, base, cap, r, want] of cases) assert.equal(backoff(a, base, cap, () => r), want, `attempt ${a}`)
  for (let i = 0; i < 1000; i++) {
    const d = backoff(5, 500)
    assert.ok(d >= 0 && d < 16000, String(d))
  }
})

test('sseParser follows the WHATWG rules, across any chunking', () => {
  const stream = ':ok\nretry: 2500\n\nid: e-0\n\nid: e-1\nevent: progress\ndata: {"a":\ndata: 1}\n\r\n' +
    'data:no space\r\n\r\n: comment\nid: bad\0id\ndata: x\n\nretry: soon\nevent\ndata\n\n'
  const want = [
    { id: 'e-0', event: 'message', data: null },
    { id: 'e-1', event: 'progress', data: '{"a":\n1}' },
    { id: undefined, event: 'message', data: 'no space' },
    { id: undefined, event: 'message', data: 'x' },
    { id: undefined, event: 'message', data: '' },
  ]
  for (const size of [1, 2, 3, 7, stream.length]) {
    const blocks = [], retries = []
    const feed = sseParser(b => blocks.push(b), ms => retries.push(ms))
    for (let i = 0; i < stream.length; i += size) feed(stream.slice(i, i + size))
    assert.deepEqual(blocks, want, `chunks of ${size}`)
    assert.deepEqual(retries, [2500])
  }
})

// A hub reading a canned response: what it emits to a client subscribed to every topic.
async function readAs(topics, body, known = new Map()) {
  const hub = new Hub('http://x/v1/events', async () => null, known)
  const out = []
  hub.clients.set('c', { send: m => out.push(m), subs: new Map([['s', { ts: topics }]]) })
  const clean = await hub.read(new Response(body), topics, new AbortController().signal, () => {})
  return { out, clean, pos: hub.pos }
}

test('Hub attributes events of a multi-topic stream by the position that moved', async () => {
  // Sent "-0.0" for [a, b]: a's history is replayed while b, with no history, only gains
  // its epoch; then a live event of b, then a reset of a.
  const body = ':ok\nretry: 1000\n\n' +
    'id: ea-1.eb-0\ndata: a1\n\n' +
    'id: ea-2.eb-0\nevent: step\ndata: a2\n\n' +
    'id: ea-2.eb-1\ndata: b1\n\n' +
    'id: ea-2.eb-1\ndata: dup\n\n' +
    'id: ez-7.eb-1\nevent: reset\ndata: {"reason":"epoch","topics":["a"]}\n\n'
  const { out, clean, pos } = await readAs(['a', 'b'], body)
  assert.equal(clean, true)
  assert.deepEqual(out.map(m => [m.t, m.topic ?? m.topics.join(), m.data ?? m.reason, m.id]), [
    ['ev', 'a', 'a1', 'ea-1'],
    ['ev', 'a', 'a2', 'ea-2'],
    ['ev', 'b', 'b1', 'eb-1'],
    ['reset', 'a', 'epoch', undefined],
  ])
  assert.equal(out[1].event, 'step')
  assert.deepEqual(out[3].pos, { a: 'ez-7' })
  assert.deepEqual([...pos], [['a', 'ez-7'], ['b', 'eb-1']])
})

test('Hub learns the starting cursor from an id-only block', async () => {
  const { out, pos } = await readAs(['a', 'b'], 'id: ea-4.eb-9\n\nid: ea-4.eb-10\ndata: b10\n\n',
    new Map([['a', 'ea-4']]))
  assert.deepEqual(out.map(m => [m.topic, m.data]), [['b', 'b10']])
  assert.equal(pos.get('b'), 'eb-10')
})
