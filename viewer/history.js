// History: what earlier runs say about each result (test_completed.history, docs/protocol.md).
//
// A badge on a test's row (new failure, known failure, fixed, flaky, slower, new), a "New
// failures" count at the top that filters the list to them, and the selected test's strip of
// earlier results (a coloured mark per run with its duration). The verdicts are the server's
// (pytest's cache, or a hub's database): this module only shows them.

import { el, setText, formatDuration } from './dom.js';

export const FILTER_NEW_FAILURES = 'new_failures';

// verdict -> [badge text, what it means]; `stable` has no badge.
export const VERDICT_BADGES = {
  new_failure: ['new failure', 'Fails now, did not fail last time'],
  known_failure: ['known', 'Failed last time too'],
  fixed: ['fixed', 'Passes now, failed last time'],
  flaky: ['flaky', 'Passed on a rerun, or flipped between passing and failing recently'],
  slower: ['slower', 'At least twice its median duration and 0.5 s more'],
  new_test: ['new', 'No earlier result'],
};

export function verdictOf(test) {
  return test.history ? test.history.verdict : null;
}

export function isNewFailure(test) {
  return verdictOf(test) === 'new_failure';
}

/** The filter this module adds to the status filter (list.js asks it first). */
export function matchesHistoryFilter(statusFilter, test) {
  return statusFilter === FILTER_NEW_FAILURES ? isNewFailure(test) : null;
}

/**
 * Where a failed test goes among failures: new failures first, then flaky, then known ones.
 * For whatever lists failures (failure groups, the CI summary's order is the same).
 */
export function failureRank(test) {
  const verdict = verdictOf(test);
  if (verdict === 'new_failure' || verdict === 'new_test') return 0;
  if (verdict === 'flaky') return 1;
  return 2;
}

/**
 * Failure groups ({tests}) with new failures first: a group holding one comes before the
 * others (their order kept: biggest first), and in each group its new failures come first.
 */
export function newFailuresFirst(groups) {
  const byRank = (a, b) => failureRank(a) - failureRank(b);
  const ranked = groups.map((group) => ({ ...group, tests: [...group.tests].sort(byRank) }));
  // Each group's tests are ranked: its best comes first (no Math.min(...tests): a call takes
  // some 125,000 arguments at most).
  const best = (group) => (group.tests.length > 0 ? failureRank(group.tests[0]) : Infinity);
  return ranked.sort((a, b) => best(a) - best(b));
}

/** A small verdict badge for lists of tests (failure groups), or null for none. */
export function verdictBadge(test) {
  const verdict = verdictOf(test);
  const badge = verdict && verdict !== 'new_test' ? VERDICT_BADGES[verdict] : undefined;
  if (!badge) return null;
  return el('span', { className: `row-badge verdict-${verdict}`, 'data-testid': 'verdict-badge', dataset: { verdict }, title: badge[1], text: badge[0] });
}

/**
 * Fill a row's badge. On a run where no test had any history (a first run, a cleared cache)
 * every test is new: no badge says so.
 */
export function fillBadge(node, test, store) {
  const verdict = verdictOf(test);
  const badge = verdict ? VERDICT_BADGES[verdict] : undefined;
  const shown = badge !== undefined && !(verdict === 'new_test' && !store.anyHistory);
  node.hidden = !shown;
  if (!shown) {
    delete node.dataset.verdict;
    return;
  }
  node.className = `row-badge verdict-${verdict}`;
  node.dataset.verdict = verdict;
  node.title = badge[1];
  setText(node, badge[0]);
}

/** The selected test's earlier results, oldest left, and this run's at the right. */
export function historyStrip(test) {
  const history = test.history;
  if (!history) return null;
  const earlier = [...history.recent].reverse();
  const marks = earlier.map((past) => mark(past.result, past.duration, 'earlier'));
  if (test.duration !== null) marks.push(mark(test.status, test.duration, 'now'));
  const badge = VERDICT_BADGES[history.verdict];
  const median = history.median_duration;
  return el('section', { className: 'detail-section history', 'data-testid': 'history-strip', dataset: { verdict: history.verdict } },
    el('h3', { text: 'History' }),
    el('div', { className: 'history-facts' },
      el('span', { className: `row-badge verdict-${history.verdict}`, 'data-testid': 'history-verdict', title: badge ? badge[1] : '', text: badge ? badge[0] : 'stable' }),
      el('span', { text: earlier.length === 0 ? 'no earlier runs' : `last ${earlier.length} run${earlier.length === 1 ? '' : 's'}` }),
      median === null ? null : el('span', { text: `median ${formatDuration(median)}` })),
    el('ol', { className: 'history-marks', 'aria-label': 'Earlier results, oldest first' }, ...marks));
}

function mark(result, duration, when) {
  const text = `${result}, ${formatDuration(duration)}${when === 'now' ? ' (this run)' : ''}`;
  return el('li', { className: `history-mark status-${result} ${when}`, 'data-testid': 'history-mark', dataset: { result, when, duration: String(duration) }, title: text },
    el('span', { className: 'history-dot', 'aria-hidden': 'true' }),
    el('span', { className: 'history-duration', text: formatDuration(duration) }),
    el('span', { className: 'visually-hidden', text: result }));
}

/** The "New failures" chip at the top (a click filters the list to them); the detail's strip. */
export function mountHistory(view, counts) {
  const value = el('span', { className: 'count-value', 'data-testid': 'count-new-failures', text: '0' });
  const chip = el('button', { type: 'button', className: 'count count-new-failures', title: 'Show the tests that fail now and did not fail last time', hidden: true },
    el('span', { className: 'dot' }), value, el('span', { className: 'count-label', text: 'new failures' }));
  chip.addEventListener('click', () => view.setFilter(FILTER_NEW_FAILURES));
  counts.append(chip);
  view.detail.extraSections.push((test) => [historyStrip(test)]);
  return {
    render(store) {
      const count = store.verdicts.new_failure ?? 0;
      setText(value, count);
      // Shown once the run has history at all; a run without it has nothing to count.
      chip.hidden = !store.anyHistory;
      chip.classList.toggle('zero', count === 0);
    },
  };
}
