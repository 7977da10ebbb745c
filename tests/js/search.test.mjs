// viewer/search.js under `node --test` (run by tests/test_viewer_js.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSearch, matchesSearch, matchRanges, sortTests, parseSeconds, tokenize,
} from '../../viewer/search.js';

function record(id, extra = {}) {
  const [file] = id.split('::');
  return { id, file, status: 'passed', markers: [], worker: 'main', duration: 0.1,
    summary: null, longrepr: null, sections: [], ...extra };
}

const TESTS = [
  record('tests/test_api.py::test_login', { status: 'failed', duration: 2.5, longrepr: 'AssertionError: Timeout talking to server', worker: 'gw0', markers: ['slow'] }),
  record('tests/test_api.py::test_logout', { duration: 0.2, sections: [{ name: 'Captured stdout call', content: 'bye bye' }], worker: 'gw1' }),
  record('tests/test_ui.py::TestPage::test_render[1]', { status: 'crashed', duration: null, worker: 'gw1' }),
  record('tests/test_ui.py::TestPage::test_render[2]', { status: 'error', duration: 1.0, worker: 'gw0', markers: ['slow', 'ui'] }),
  record('tests/test_ui.py::test_skip', { status: 'skipped', duration: 0.001 }),
];

function ids(query) {
  const parsed = parseSearch(query);
  return TESTS.filter((t) => matchesSearch(t, parsed)).map((t) => t.id.split('::').pop());
}

test('durations parse with units', () => {
  assert.equal(parseSeconds('1s'), 1);
  assert.equal(parseSeconds('250ms'), 0.25);
  assert.equal(parseSeconds('1.5m'), 90);
  assert.equal(parseSeconds('2'), 2);
  assert.equal(parseSeconds('fast'), null);
});

test('an empty query matches everything', () => {
  assert.equal(parseSearch('  ').empty, true);
  assert.equal(ids('').length, TESTS.length);
});

test('plain words match id, failure text and captured output, all of them, any case', () => {
  assert.deepEqual(ids('LOGIN'), ['test_login']);
  assert.deepEqual(ids('timeout'), ['test_login']);
  assert.deepEqual(ids('bye'), ['test_logout']);
  assert.deepEqual(ids('test_api timeout'), ['test_login']);
  assert.deepEqual(ids('test_api nothing-like-this'), []);
});

test('quoted phrases are one word', () => {
  assert.deepEqual(tokenize('"bye bye" x').map((t) => t.text), ['bye bye', 'x']);
  assert.deepEqual(ids('"bye bye"'), ['test_logout']);
  assert.deepEqual(ids('"talking to server"'), ['test_login']);
});

test('status: failed includes crashed; failures adds error; lists and repeats are any-of', () => {
  assert.deepEqual(ids('status:failed'), ['test_login', 'test_render[1]']);
  assert.deepEqual(ids('status:failures'), ['test_login', 'test_render[1]', 'test_render[2]']);
  assert.deepEqual(ids('status:error,skipped'), ['test_render[2]', 'test_skip']);
  assert.deepEqual(ids('status:error status:skipped'), ['test_render[2]', 'test_skip']);
  assert.deepEqual(ids('status:passed'), ['test_logout']);
});

test('marker, file and worker tokens combine with words', () => {
  assert.deepEqual(ids('marker:slow'), ['test_login', 'test_render[2]']);
  assert.deepEqual(ids('marker:ui'), ['test_render[2]']);
  assert.deepEqual(ids('file:test_ui'), ['test_render[1]', 'test_render[2]', 'test_skip']);
  assert.deepEqual(ids('worker:gw1'), ['test_logout', 'test_render[1]']);
  assert.deepEqual(ids('worker:GW0 marker:slow render'), ['test_render[2]']);
});

test('duration comparisons, unfinished tests never match', () => {
  assert.deepEqual(ids('duration:>1s'), ['test_login']);
  assert.deepEqual(ids('duration:>=1s'), ['test_login', 'test_render[2]']);
  assert.deepEqual(ids('duration:<250ms'), ['test_logout', 'test_skip']);
  assert.deepEqual(ids('duration:>100ms duration:<2s'), ['test_logout', 'test_render[2]']);
  assert.deepEqual(parseSearch('duration:>soon').errors, ['duration:>soon']);
});

test('an unknown key is a plain word', () => {
  assert.deepEqual(parseSearch('foo:bar').words, ['foo:bar']);
});

test('match ranges are merged and in order', () => {
  assert.deepEqual(matchRanges('test_login_login', ['login']), [[5, 10], [11, 16]]);
  assert.deepEqual(matchRanges('abcdef', ['bcd', 'cde']), [[1, 5]]);
  assert.deepEqual(matchRanges('ABC', ['b']), [[1, 2]]);
  assert.deepEqual(matchRanges('abc', []), []);
});

test('sorting by name and by duration, unfinished last in collection order', () => {
  assert.equal(sortTests(TESTS, 'order'), TESTS);
  assert.deepEqual(sortTests(TESTS, 'name').map((t) => t.id), [...TESTS.map((t) => t.id)].sort());
  assert.deepEqual(sortTests(TESTS, 'duration').map((t) => t.duration), [2.5, 1.0, 0.2, 0.001, null]);
});

test('the haystack follows a test that completes after a search', () => {
  const t = record('a.py::test_x', { status: 'running' });
  assert.equal(matchesSearch(t, parseSearch('kaboom')), false);
  t.longrepr = 'ValueError: kaboom';
  assert.equal(matchesSearch(t, parseSearch('kaboom')), true);
});

test('the view in the fragment, defaults left out; a shared link never has a token', async () => {
  const { readFragment, writeFragment, shareLink } = await import('../../viewer/urlstate.js');
  const state = { test: 'a.py::T::test_x[1-2]', status: 'failures', q: 'status:failed "a b"', sort: 'order' };
  const fragment = writeFragment(state);
  assert.equal(fragment.includes('sort='), false);
  assert.deepEqual(readFragment(fragment), state);
  assert.equal(writeFragment({ test: null, status: 'all', q: '', sort: 'order' }), '');
  assert.deepEqual(readFragment(''), { test: null, status: 'all', q: '', sort: 'order' });
  const link = shareLink('http://h:1/runs/r/?token=SECRET#old', state);
  assert.equal(link.includes('SECRET'), false);
  assert.deepEqual(readFragment(new URL(link).hash), state);
});

test('the run title: the selection without --jb-live options, shards named', async () => {
  const { runTitle, selectionArgs } = await import('../../viewer/runtitle.js');
  assert.deepEqual(selectionArgs(['--jb-live', '-k', 'login', '--jb-live-linger', '60', '--jb-live-port=0', '--jb-live-open', 'tests/']), ['-k', 'login', 'tests/']);
  const one = runTitle([{ rootdir: '/src/shop', args: ['--jb-live', '-k', 'not slow', 'tests/'], host: 'ci', pid: 1, versions: {} }]);
  assert.equal(one.text, "shop — pytest -k 'not slow' tests/");
  assert.match(one.full, /^pytest --jb-live -k 'not slow' tests\//);
  const two = runTitle([
    { rootdir: '/src/shop', shard: 'b', args: ['--jb-live-hub', 'http://h', 'tests/b'] },
    { rootdir: '/src/shop', shard: 'a', args: ['--jb-live-hub', 'http://h', 'tests/a'] },
  ]);
  assert.equal(two.text, 'shop — 2 shards: a (pytest tests/a), b (pytest tests/b)');
  assert.match(two.full, /^a: pytest --jb-live-hub http:\/\/h tests\/a/);
  assert.equal(runTitle([]).text, 'Waiting for the run…');
});
