// viewer/hublist.js under `node --test` (run by tests/test_viewer_js.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFacts, filterRuns, sortRuns } from '../../viewer/hublist.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const RUNS = [
  { run_id: 'nightly-42', status: 'live', created: '2026-12-01T11:59:00Z', updated: '2026-12-01T11:59:30Z', counts: { passed: 9, failed: 1 }, exit_status: null, duration: null },
  { run_id: 'pr-7', status: 'finished', created: '2026-12-01T10:00:00Z', updated: '2026-12-01T10:05:00Z', counts: { passed: 10 }, exit_status: 0, duration: 120 },
  { run_id: 'pr-8', status: 'finished', created: '2026-12-01T11:00:00Z', updated: '2026-12-01T11:01:00Z', counts: { passed: 2, failed: 1, error: 1 }, exit_status: 1, duration: 30 },
  { run_id: 'ci-cut', status: 'interrupted', created: '2026-12-01T09:00:00Z', updated: '2026-12-01T09:00:10Z', counts: {}, exit_status: 2, duration: null },
];
const ids = (runs) => runs.map((run) => run.run_id);

test('facts: outcome, failures, pass rate, duration (live runs count up)', () => {
  assert.deepEqual(runFacts(RUNS[0], NOW), { id: 'nightly-42', outcome: 'live', failures: 1, passRate: 0.9, duration: 60, created: Date.parse(RUNS[0].created) });
  assert.equal(runFacts(RUNS[1], NOW).passRate, 1);
  assert.equal(runFacts(RUNS[2], NOW).outcome, 'failed');
  assert.equal(runFacts(RUNS[2], NOW).failures, 2);
  assert.equal(runFacts(RUNS[3], NOW).outcome, 'interrupted');
  assert.equal(runFacts(RUNS[3], NOW).passRate, null);
  assert.equal(runFacts(RUNS[3], NOW).duration, 10);
});

test('search by words of the run id, filter by outcome', () => {
  assert.deepEqual(ids(filterRuns(RUNS, { query: 'PR' }, NOW)), ['pr-7', 'pr-8']);
  assert.deepEqual(ids(filterRuns(RUNS, { query: 'pr 8' }, NOW)), ['pr-8']);
  assert.deepEqual(ids(filterRuns(RUNS, { outcome: 'failed' }, NOW)), ['pr-8', 'ci-cut']);
  assert.deepEqual(ids(filterRuns(RUNS, { outcome: 'live' }, NOW)), ['nightly-42']);
  assert.deepEqual(ids(filterRuns(RUNS, { outcome: 'passed', query: 'pr' }, NOW)), ['pr-7']);
});

test('sorts', () => {
  assert.deepEqual(ids(sortRuns(RUNS, 'newest', NOW)), ['nightly-42', 'pr-8', 'pr-7', 'ci-cut']);
  assert.deepEqual(ids(sortRuns(RUNS, 'oldest', NOW)), ['ci-cut', 'pr-7', 'pr-8', 'nightly-42']);
  assert.deepEqual(ids(sortRuns(RUNS, 'name', NOW)), ['ci-cut', 'nightly-42', 'pr-7', 'pr-8']);
  assert.deepEqual(ids(sortRuns(RUNS, 'duration', NOW)), ['pr-7', 'nightly-42', 'pr-8', 'ci-cut']);
  assert.deepEqual(ids(sortRuns(RUNS, 'failures', NOW)), ['pr-8', 'nightly-42', 'pr-7', 'ci-cut']);
  assert.deepEqual(ids(sortRuns(RUNS, 'pass-rate', NOW)), ['pr-8', 'nightly-42', 'pr-7', 'ci-cut']);
});

test('the way back to a hub\'s run list from a run page', async () => {
  const { hubListAddress } = await import('../../viewer/urlstate.js');
  assert.equal(hubListAddress(new URL('http://hub:8000/runs/pr-7/')), '/');
  assert.equal(hubListAddress(new URL('https://x.org/ci/hub/runs/a.b-1/#test=x')), '/ci/hub/');
  assert.equal(hubListAddress(new URL('http://127.0.0.1:9000/')), null);
  assert.equal(hubListAddress(new URL('file:///tmp/runs/x/report.html')), null);
});
