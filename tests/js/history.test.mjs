// viewer/history.js's pure parts under `node --test` (run by tests/test_viewer_js.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FILTER_NEW_FAILURES, VERDICT_BADGES, failureRank, isNewFailure, matchesHistoryFilter, newFailuresFirst,
} from '../../viewer/history.js';

function withVerdict(verdict) {
  return { id: `t::${verdict}`, status: 'failed', history: verdict === null ? null : { verdict, recent: [], median_duration: null } };
}

test('the new-failures filter takes only new failures and leaves other filters alone', () => {
  assert.equal(matchesHistoryFilter(FILTER_NEW_FAILURES, withVerdict('new_failure')), true);
  assert.equal(matchesHistoryFilter(FILTER_NEW_FAILURES, withVerdict('known_failure')), false);
  assert.equal(matchesHistoryFilter(FILTER_NEW_FAILURES, withVerdict(null)), false);
  assert.equal(matchesHistoryFilter('failures', withVerdict('new_failure')), null);
  assert.equal(matchesHistoryFilter('all', withVerdict(null)), null);
});

test('new failures rank first among failures, then flaky, then known', () => {
  const tests = ['known_failure', 'flaky', 'new_failure', null].map(withVerdict);
  const ranked = [...tests].sort((a, b) => failureRank(a) - failureRank(b)).map((t) => t.history?.verdict ?? null);
  assert.deepEqual(ranked, ['new_failure', 'flaky', 'known_failure', null]);
  assert.equal(isNewFailure(withVerdict('new_failure')), true);
  assert.equal(isNewFailure(withVerdict('fixed')), false);
});

test('every verdict but stable has a badge', () => {
  assert.deepEqual(Object.keys(VERDICT_BADGES).sort(),
    ['fixed', 'flaky', 'known_failure', 'new_failure', 'new_test', 'slower']);
});

test('failure groups: the one holding a new failure first, new failures first inside', () => {
  const known = withVerdict('known_failure');
  const known2 = { ...withVerdict('known_failure'), id: 't::known2' };
  const fresh = withVerdict('new_failure');
  const flaky = withVerdict('flaky');
  const groups = [
    { cause: 'big', tests: [known, known2] },
    { cause: 'mixed', tests: [flaky, fresh] },
  ];
  const ordered = newFailuresFirst(groups);
  assert.deepEqual(ordered.map((g) => g.cause), ['mixed', 'big']);
  assert.deepEqual(ordered[0].tests.map((t) => t.history.verdict), ['new_failure', 'flaky']);
  // Without history every failure ranks the same: the groups keep their order.
  const plain = [{ cause: 'a', tests: [withVerdict(null)] }, { cause: 'b', tests: [withVerdict(null)] }];
  assert.deepEqual(newFailuresFirst(plain).map((g) => g.cause), ['a', 'b']);
  // A cause of 200,000 failures (more than a call takes as arguments), and an empty one.
  const many = { cause: 'many', tests: Array.from({ length: 200000 }, (_, i) => ({ ...known, id: `t::${i}` })) };
  const huge = newFailuresFirst([many, { cause: 'none', tests: [] }, { cause: 'mixed', tests: [flaky, fresh] }]);
  assert.deepEqual(huge.map((g) => g.cause), ['mixed', 'many', 'none']);
});
