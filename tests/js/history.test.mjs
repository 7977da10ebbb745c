// viewer/history.js's pure parts under `node --test` (run by tests/test_viewer_js.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FILTER_NEW_FAILURES, VERDICT_BADGES, failureRank, isNewFailure, matchesHistoryFilter,
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
