// The hub's run list as data: each run's facts (outcome, failures, pass rate, duration), and
// the list searched, filtered by outcome and sorted. Pure (node --test, tests/js/); hub.js
// draws it.

export const RUN_SORTS = ['newest', 'oldest', 'name', 'duration', 'failures', 'pass-rate'];
export const RUN_FILTERS = ['all', 'live', 'passed', 'failed', 'interrupted'];

/** What the list shows of one run from /api/runs. */
export function runFacts(run, nowMs = Date.now()) {
  const counts = run.counts ?? {};
  const failures = (counts.failed ?? 0) + (counts.error ?? 0);
  const judged = (counts.passed ?? 0) + failures;
  const live = run.status === 'live';
  // 'interrupted': shards went away without finishing (the hub's --shard-timeout).
  const outcome = live ? 'live' : run.status === 'interrupted' ? 'interrupted' : failures > 0 || run.exit_status ? 'failed' : 'passed';
  let duration = typeof run.duration === 'number' ? run.duration : null;
  const created = Date.parse(run.created ?? '');
  if (duration === null && Number.isFinite(created)) {
    // Live: running for this long; ended without a shard's own duration: first to last event.
    const until = live ? nowMs : Date.parse(run.updated ?? '');
    if (Number.isFinite(until)) duration = Math.max(0, (until - created) / 1000);
  }
  return {
    id: String(run.run_id),
    outcome,
    failures,
    passRate: judged > 0 ? (counts.passed ?? 0) / judged : null,
    duration,
    created: Number.isFinite(created) ? created : 0,
  };
}

/** Runs matching the search (words in the run id, all of them) and the outcome filter. */
export function filterRuns(runs, { query = '', outcome = 'all' } = {}, nowMs = Date.now()) {
  const words = String(query).toLowerCase().split(/\s+/).filter(Boolean);
  return runs.filter((run) => {
    const facts = runFacts(run, nowMs);
    if (outcome === 'failed' ? !(facts.outcome === 'failed' || facts.outcome === 'interrupted') : outcome !== 'all' && facts.outcome !== outcome) return false;
    const id = facts.id.toLowerCase();
    return words.every((word) => id.includes(word));
  });
}

/** Runs in the order asked for (a copy); ties keep the order given (the hub's: newest first). */
export function sortRuns(runs, by = 'newest', nowMs = Date.now()) {
  const keyed = runs.map((run, index) => ({ run, index, facts: runFacts(run, nowMs) }));
  const missingLast = (value, descending) => (value === null ? Infinity : descending ? -value : value);
  const key = {
    newest: (f) => -f.created,
    oldest: (f) => f.created,
    name: null,
    duration: (f) => missingLast(f.duration, true),
    failures: (f) => -f.failures,
    'pass-rate': (f) => missingLast(f.passRate, false),
  }[by];
  keyed.sort((a, b) => {
    if (key === null || key === undefined) {
      const order = by === 'name' ? a.facts.id.localeCompare(b.facts.id) : 0;
      return order || a.index - b.index;
    }
    return key(a.facts) - key(b.facts) || a.index - b.index;
  });
  return keyed.map((entry) => entry.run);
}
