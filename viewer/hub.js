// The hub's run list: every run it keeps, newest first, refreshed every few seconds.
// Each run opens in the live viewer at /runs/<run_id>/. Text only (textContent), no HTML
// from the server, no inline script (the page's Content-Security-Policy forbids it).

import { COUNT_KEYS, FAILURE_RESULTS } from './protocol.js';

export const REFRESH_MS = 2000;
// Tests, not subtests: what `done/total` adds up.
const COUNT_ORDER = COUNT_KEYS.filter((name) => !name.startsWith('subtests '));

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function when(timestamp) {
  if (!timestamp) return '–';
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : date.toLocaleString();
}

export function countsText(run) {
  const parts = [];
  for (const name of COUNT_ORDER) {
    if (run.counts && run.counts[name]) parts.push(`${run.counts[name]} ${name}`);
  }
  const done = COUNT_ORDER.reduce((sum, name) => sum + ((run.counts && run.counts[name]) || 0), 0);
  if (run.status === 'live' && run.total) parts.push(`${done}/${run.total} done`);
  return parts.length ? parts.join(', ') : 'no results yet';
}

export function runRow(run) {
  const row = document.createElement('tr');
  row.dataset.runId = run.run_id;
  row.dataset.status = run.status;
  const name = document.createElement('td');
  const link = document.createElement('a');
  link.href = `./runs/${encodeURIComponent(run.run_id)}/`;
  link.textContent = run.run_id;
  link.dataset.testid = 'run-link';
  name.append(link);
  row.append(name);
  const failed = Boolean(run.counts) && [...FAILURE_RESULTS].some((name) => (run.counts[name] || 0) > 0);
  // 'interrupted': shards went away without finishing (the hub's --shard-timeout).
  const status = run.status === 'live' ? 'live' : (failed || run.exit_status ? 'failed' : 'passed');
  const label = run.status === 'live' ? 'live' : `${run.status} (${status})`;
  row.append(cell(label, `status status-${status}`));
  row.append(cell(countsText(run), 'counts'));
  row.append(cell(`${run.shards_finished}/${run.shards}`, 'shards'));
  row.append(cell(when(run.created)));
  row.append(cell(when(run.updated)));
  row.append(cell(String(run.viewers ?? 0)));
  return row;
}

export async function refresh() {
  const state = document.getElementById('hub-state');
  try {
    const response = await fetch('./api/runs', { cache: 'no-store', credentials: 'same-origin' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { runs } = await response.json();
    const rows = document.getElementById('run-rows');
    rows.replaceChildren(...runs.map(runRow));
    document.getElementById('no-runs').hidden = runs.length > 0;
    const live = runs.filter((run) => run.status === 'live').length;
    state.textContent = `${runs.length} run(s), ${live} live`;
    state.dataset.state = 'ok';
  } catch (error) {
    state.textContent = `Cannot load the runs (${error.message}); retrying…`;
    state.dataset.state = 'error';
  }
  document.documentElement.dataset.ready = 'true';
}

refresh();
setInterval(refresh, REFRESH_MS);
