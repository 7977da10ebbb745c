// The list's search and status filter (viewer/list.js) and the worker lanes' reducer (viewer/lanes.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FILTER_ALL, FILTER_FAILURES, groupStatus, groupedRows, testMatches } from '../../viewer/list.js';
import { applyLaneEvent, workerOrder } from '../../viewer/lanes.js';

// A test record as the store makes it (store.js addTest): not completed yet, so no categories.
const t = (id, status) => ({ id, status, searchText: null, categories: null, reruns: 0 });

test('search is a case-insensitive substring of the node id (the query comes lower-cased)', () => {
  assert.ok(testMatches(t('tests/Test_Login.py::test_OK', 'passed'), FILTER_ALL, 'login.py::test_ok'));
  assert.ok(!testMatches(t('tests/test_a.py::test_b', 'passed'), FILTER_ALL, 'zzz'));
  assert.ok(testMatches(t('a.py::b', 'passed'), FILTER_ALL, ''));
});

test('status filters: failures include errors and crashes, "failed" includes crashes', () => {
  assert.ok(testMatches(t('a', 'error'), FILTER_FAILURES, ''));
  assert.ok(testMatches(t('a', 'crashed'), 'failed', ''));
  assert.ok(!testMatches(t('a', 'error'), 'failed', ''));
  assert.ok(!testMatches(t('a', 'passed'), 'skipped', ''));
  assert.equal(groupStatus([t('a', 'passed'), t('b', 'running')]), 'running');
  assert.equal(groupStatus([t('a', 'running'), t('b', 'crashed')]), 'failed');
});

test('lanes: a worker\'s tests counted, its crash marked, gw2 before gw10', () => {
  const lanes = new Map();
  const at = (type, fields) => applyLaneEvent(lanes, { type, seq: 1, worker: 'gw1', ...fields });
  at('worker_started', { python: '3.11.7' });
  at('test_started', { test_id: 't.py::a' });
  at('test_completed', { test_id: 't.py::a', result: 'failed' });
  at('test_started', { test_id: 't.py::b' });
  at('worker_crashed', { test_id: 't.py::b', error: 'boom' });
  const lane = lanes.get('gw1');
  assert.equal(lane.done, 1);
  assert.equal(lane.failed, 1);
  assert.equal(lane.state, 'crashed');
  assert.equal(lane.crashes.length, 1);
  assert.deepEqual(['gw10', 'gw2', 'main'].sort(workerOrder), ['gw2', 'gw10', 'main']);
});

test('rows: files, then classes, then tests in collection order; a folded group is its header', () => {
  const tests = [
    { id: 'a.py::t1', file: 'a.py', cls: null }, { id: 'a.py::K::t2', file: 'a.py', cls: 'K' },
    { id: 'b.py::t3', file: 'b.py', cls: null }, { id: 'a.py::t4', file: 'a.py', cls: null },
  ];
  const { rows, matches } = groupedRows(tests, (test) => test.id !== 'b.py::t3', new Set(['a.py::K']));
  assert.equal(matches, 3);
  assert.deepEqual(rows.map((row) => [row.kind, row.key, row.depth ?? null]), [
    ['file', 'a.py', null], ['test', 'a.py::t1', 1], ['test', 'a.py::t4', 1], ['class', 'a.py::K', null],
  ]);
  assert.deepEqual(rows[0].tests.map((test) => test.id), ['a.py::t1', 'a.py::t4', 'a.py::K::t2']);
});

test('rows: one file of 200,000 tests (more than a call takes as arguments)', () => {
  const tests = Array.from({ length: 200000 }, (_, i) => ({ id: `big.py::t[${i}]`, file: 'big.py', cls: i % 2 ? 'K' : null }));
  const { rows, matches } = groupedRows(tests, () => true, new Set());
  assert.equal(matches, 200000);
  assert.equal(rows.length, 200002);
  assert.equal(rows[0].tests.length, 200000);
  const single = groupedRows(tests.filter((test) => test.cls === null), () => true, new Set(['big.py']));
  assert.deepEqual(single.rows.map((row) => row.kind), ['file']);
  assert.equal(single.rows[0].tests.length, 100000);
});
