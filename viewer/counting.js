// One way of counting, everywhere (chips, filters, group headers, toasts, the title).
//
// Each test_completed carries `categories`: what pytest's terminal summary counts for the
// test's own reports (a call failure and a teardown error: ['failed', 'error']), made by the
// plugin from the same reports the terminal counts. The chips are the sum of those, so
// they are pytest's summary line; their total is that sum plus the tests still running or
// queued, and the chips add up to it. Subtests are counted apart (`subtests passed`, …):
// pytest 9 counts a failed subtest under `failed`, so pytest's `failed` is
// `failed` + `subtests failed` here (subtestCount). `flaky` (passed after a rerun) is a part of `passed`,
// `crashed` a part of `failed`, as pytest counts them.

const NO_CATEGORIES = Object.freeze([]);

// The chips that add up to `total`, in the order shown.
export const MAIN_CATEGORIES = ['passed', 'failed', 'error', 'skipped', 'xfailed', 'xpassed'];
// Counted apart: not tests' results, or a part of one of the above.
export const EXTRA_COUNTS = ['flaky', 'rerun', 'subtests passed', 'subtests failed', 'subtests skipped', 'warnings'];
export const FILTER_FLAKY = 'flaky';

/** The data-testid of a count's chip: `count-subtests-failed` for `subtests failed`. */
export function countTestId(name) {
  return `count-${name.replace(/ /g, '-')}`;
}

/** A recording made before `categories` existed: the categories its result stands for. */
export function categoriesOf(event) {
  if (Array.isArray(event.categories)) return event.categories;
  if (event.result === 'crashed') return ['failed'];
  if (event.result === 'rerun') return ['rerun'];
  return MAIN_CATEGORIES.includes(event.result) ? [event.result] : ['error'];
}

/**
 * A subtest's chip, by its result. pytest 9 counts a failed subtest under `failed`, a
 * skipped one under `skipped`, and a passed one (`subtests passed`) only when its subtests
 * verbosity is above 0; here they are always counted, and apart.
 */
export function subtestCount(subtest) {
  return `subtests ${subtest.result}`;
}

/** A test that failed, was run again by pytest-rerunfailures, and passed. */
export function isFlaky(test) {
  return test.reruns > 0 && test.status === 'passed';
}

/** Does a status filter (the `filter-status` select, a chip) show this test? */
export function matchesStatus(test, filter, isFailure) {
  if (filter === 'all') return true;
  if (filter === FILTER_FLAKY) return isFlaky(test);
  const categories = test.categories ?? null;
  if (filter === 'failures') {
    return isFailure(test.status) || (categories !== null && (categories.includes('failed') || categories.includes('error')));
  }
  // A completed test is shown under every count it adds to, so a chip and its filter agree.
  if (categories !== null && MAIN_CATEGORIES.includes(filter)) return categories.includes(filter);
  if (filter === 'failed') return test.status === 'failed' || test.status === 'crashed';
  return test.status === filter;
}

/**
 * The counts of completed tests, kept as they complete (a test completed again, e.g. a
 * shard resumed on a hub, replaces what it counted before).
 */
export class Tally {
  constructor() {
    this.counts = {};
    for (const name of [...MAIN_CATEGORIES, ...EXTRA_COUNTS]) this.counts[name] = 0;
  }

  add(name, step) {
    this.counts[name] = (this.counts[name] ?? 0) + step;
  }

  /** What a test counts for now: its categories, subtests and whether it is flaky. */
  contribution(test) {
    const categories = test.categories ?? NO_CATEGORIES;
    const flaky = isFlaky(test);
    // The common case allocates nothing: a replayed 20,000-test run completes them all.
    if (test.subtests.length === 0 && !flaky) return categories;
    const names = [...categories];
    for (const subtest of test.subtests) names.push(subtestCount(subtest));
    if (flaky) names.push('flaky');
    return names;
  }

  /** Before a test changes: take back what it counted. */
  uncount(test) {
    const counted = test.counted;
    if (counted) for (let i = 0; i < counted.length; i += 1) this.counts[counted[i]] -= 1;
    test.counted = null;
  }

  /** Once it has changed: count what it counts for now. */
  count(test) {
    const counted = this.contribution(test);
    for (let i = 0; i < counted.length; i += 1) this.add(counted[i], 1);
    test.counted = counted;
  }
}

/** The chips' numbers: main categories, total, and the counts kept apart. */
export function chipCounts(store) {
  const counts = { ...store.tally.counts };
  counts.running = store.counts.running;
  counts.queued = store.counts.queued;
  counts.crashed = store.counts.crashed;
  counts.warnings = store.pytestWarnings.length;
  counts.total = MAIN_CATEGORIES.reduce((sum, name) => sum + counts[name], 0) + counts.running + counts.queued;
  return counts;
}

export function countWord(count, word) {
  return `${count} ${word}${count === 1 ? '' : word.endsWith('s') ? '' : 's'}`;
}

/** `2 failed, 1 error, 5 passed` — pytest's own words, for toasts, the title and headers. */
export function countsText(counts, names = MAIN_CATEGORIES) {
  const parts = [];
  for (const name of names) {
    const value = counts[name] ?? 0;
    if (value === 0) continue;
    parts.push(name === 'error' ? countWord(value, 'error') : `${value} ${name}`);
  }
  return parts.join(', ');
}

/** A file's or class's header: what its tests count for, errors as errors. */
export function groupCountsText(tests) {
  const counts = { failed: 0, error: 0 };
  for (const test of tests) {
    const categories = test.categories ?? null;
    if (categories !== null) {
      for (const name of categories) if (name in counts) counts[name] += 1;
    } else if (test.status === 'failed' || test.status === 'crashed') counts.failed += 1;
    else if (test.status === 'error') counts.error += 1;
  }
  return countsText(counts, ['failed', 'error']);
}

/** The page title: how the run stands, readable in a tab strip. */
export function titleText(counts, finished) {
  const bad = counts.failed + counts.error;
  const state = finished ? '' : counts.running + counts.queued > 0 ? '▶ ' : '';
  const mark = bad > 0 ? '✖ ' : finished ? '✔ ' : '';
  const text = countsText(counts);
  return `${state}${mark}${text || 'waiting'} — pytest live`;
}
