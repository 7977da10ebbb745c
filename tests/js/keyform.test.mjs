// The key form (viewer/keyform.js): what a person pastes (the key, the terminal's line, a
// link) gives the key; the key is kept like a link's (credential.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { keyFromText } from '../../viewer/keyform.js';
import { keepToken, authHeaders, TOKEN_KEY } from '../../viewer/credential.js';

test('the key itself, around spaces', () => {
  assert.equal(keyFromText('  aaa.bbb.ccc\n'), 'aaa.bbb.ccc');
});

test("the terminal's whole line gives the key after key:", () => {
  assert.equal(
    keyFromText('jb-live: watch this run at http://127.0.0.1:8765/  key: aaa.bbb.ccc'), 'aaa.bbb.ccc');
  assert.equal(keyFromText('key: aaa.bbb.ccc'), 'aaa.bbb.ccc');
});

test('a link with its token, in the query or the fragment', () => {
  assert.equal(keyFromText('http://127.0.0.1:1/?token=t.q'), 't.q');
  assert.equal(keyFromText('http://127.0.0.1:1/runs/r/#token=t.f&test=x'), 't.f');
});

test('text that holds no key gives none', () => {
  for (const text of ['', '   ', 'http://127.0.0.1:1/', 'two words', 'key:', null, undefined]) {
    assert.equal(keyFromText(text), '', String(text));
  }
});

test('a typed key is kept for the origin and sent like a link token', () => {
  const items = new Map();
  const win = { localStorage: { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v) } };
  assert.equal(keepToken('typed.key', win), 'typed.key');
  assert.equal(items.get(TOKEN_KEY), 'typed.key');
  assert.deepEqual(authHeaders(), { Authorization: 'Bearer typed.key' });
});
