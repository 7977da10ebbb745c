// RunStore (viewer/store.js): the run's state from protocol events, without a DOM.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { RunStore, emptyCounts } from '../../viewer/store.js';

let seq = 0;
function event(type, fields = {}) {
  seq += 1;
  return { type, seq, run_id: 'r1', timestamp: `2026-11-30T07:30:${String(seq).padStart(2, '0')}.000Z`, worker: 'main', ...fields };
}

function finishedRun() {
  seq = 0;
  return [
    event('session_started', { start_time: '2026-11-30T07:30:00.000Z' }),
    event('collection_finished', {
      total: 2,
      tests: [
        { test_id: 't.py::test_ok', file: 't.py', cls: null, name: 'test_ok', markers: [] },
        { test_id: 't.py::TestA::test_bad[a::b]', file: 't.py', cls: 'TestA', name: 'test_bad[a::b]', markers: ['slow'] },
      ],
      errors: [],
    }),
    event('test_started', { test_id: 't.py::test_ok', estimated_duration: 0.5 }),
    event('test_progress', { test_id: 't.py::test_ok', step_index: 2, step_name: 'call', progress_percentage: 33.3, status: 'running' }),
    event('test_completed', { test_id: 't.py::test_ok', result: 'passed', duration: 0.01 }),
    event('test_started', { test_id: 't.py::TestA::test_bad[a::b]', estimated_duration: null }),
    event('test_completed', { test_id: 't.py::TestA::test_bad[a::b]', result: 'failed', duration: 0.02, summary: 'AssertionError' }),
    event('session_finished', {
      exit_status: 1, duration: 1.5, total: 2,
      counts: { passed: 1, failed: 1, error: 0, skipped: 0, xfailed: 0, xpassed: 0, 'subtests passed': 0, 'subtests failed': 0 },
    }),
  ];
}

test('a finished run: statuses, counts, failures in order, no seq errors', () => {
  const store = new RunStore();
  store.applyEvents(finishedRun());
  assert.equal(store.seqErrors, 0);
  assert.equal(store.tests.get('t.py::test_ok').status, 'passed');
  const bad = store.tests.get('t.py::TestA::test_bad[a::b]');
  assert.equal(bad.status, 'failed');
  assert.equal(bad.summary, 'AssertionError');
  assert.deepEqual(store.failureOrder.map((t) => t.id), ['t.py::TestA::test_bad[a::b]']);
  const counts = store.displayCounts();
  assert.equal(counts.passed, 1);
  assert.equal(counts.failed, 1);
  assert.equal(counts.total, 2);
  assert.equal(store.elapsedSeconds(Date.now()), 1.5);
  assert.equal(store.etaSeconds(Date.now()), null);
});

test('a test never collected is placed by its node id, "::" in its parameter kept', () => {
  const store = new RunStore();
  seq = 0;
  store.applyEvents([event('test_started', { test_id: 'x.py::TestB::test_c[k::v]' })]);
  const test = store.tests.get('x.py::TestB::test_c[k::v]');
  assert.deepEqual([test.file, test.cls, test.name, test.status], ['x.py', 'TestB', 'test_c[k::v]', 'running']);
});

test('a gap in seq is counted, and a reset forgets the run', () => {
  const store = new RunStore();
  const events = finishedRun();
  store.applyEvents([events[0], events[2]]);
  assert.equal(store.seqErrors, 1);
  store.applyEvent({ type: 'reset', run_id: 'r1', reason: 'replay' });
  assert.equal(store.tests.size, 0);
  assert.deepEqual(store.counts, emptyCounts());
  assert.equal(store.resets, 1);
});

test('a crash seen live is announced once; one from the backlog is not', () => {
  const store = new RunStore();
  store.applyEvent({ type: 'hello', run_id: 'r1', client_id: 'c', protocol: 1, log_length: 1 });
  seq = 0;
  store.applyEvent(event('worker_crashed', { worker: 'gw0', error: 'boom' }));
  store.applyEvent(event('worker_crashed', { worker: 'gw1', error: 'boom' }));
  const changes = store.takeChanges();
  assert.deepEqual(changes.liveCrashes.map((e) => e.worker), ['gw1']);
  assert.equal(store.runTimeline.length, 2);
});
