// The page's credential (viewer/credential.js): taken out of the address, kept per origin,
// offered as a WebSocket subprotocol and sent as a bearer header, never left in the URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { takeToken, socketProtocols, authHeaders, TOKEN_KEY } from '../../viewer/credential.js';

function page(href, stored = {}) {
  const items = new Map(Object.entries(stored));
  const win = {
    location: { href },
    localStorage: { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v) },
    history: {
      state: null,
      replaceState(state, title, url) { win.location.href = url; },
    },
  };
  return { win, items };
}

test('the link token leaves the address and is kept for the origin', () => {
  const { win, items } = page('http://127.0.0.1:8000/?token=abc.def.ghi');
  assert.equal(takeToken(win), 'abc.def.ghi');
  assert.equal(win.location.href, 'http://127.0.0.1:8000/');
  assert.equal(items.get(TOKEN_KEY), 'abc.def.ghi');
});

test('a token in the fragment too, and the view state beside it stays', () => {
  const { win } = page('http://h:1/runs/r/#token=t1&test=a.py%3A%3Atest_x');
  assert.equal(takeToken(win), 't1');
  assert.equal(win.location.href, 'http://h:1/runs/r/#test=a.py%3A%3Atest_x');
});

test('a page without one uses the token its origin kept', () => {
  const { win } = page('http://h:1/#test=x', { [TOKEN_KEY]: 'kept' });
  assert.equal(takeToken(win), 'kept');
  assert.equal(win.location.href, 'http://h:1/#test=x');
});

test('the token travels as a subprotocol and a bearer header only', () => {
  assert.deepEqual(socketProtocols('t.o.k'), ['jb-live', 'jb-live-token.t.o.k']);
  assert.deepEqual(socketProtocols(null), []);
  assert.deepEqual(authHeaders('t.o.k'), { Authorization: 'Bearer t.o.k' });
});
