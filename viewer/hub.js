// The hub's run list: every run it keeps, refreshed every few seconds, searchable by id,
// filtered by outcome and sorted (hublist.js), with each run's failures, pass rate and
// duration. Each run opens in the live viewer at /runs/<run_id>/. Text only (textContent),
// no HTML from the server, no inline script (the page's Content-Security-Policy forbids it).

import { runFacts, filterRuns, sortRuns } from './hublist.js';
import { mountTheme } from './theme.js';
import { mountHubHistory, newFailuresCell, compareCell } from './hubhistory.js';
import { COUNT_KEYS } from './protocol.js';
import { authorizedFetch, takeToken } from './credential.js';
import { mountKeyForm } from './keyform.js';

takeToken();  // the link's token leaves the address bar; kept for this origin

export const REFRESH_MS = 2000;
// Tests, not subtests: what `done/total` adds up.
const COUNT_ORDER = COUNT_KEYS.filter((name) => !name.startsWith('subtests '));
const LABELS = ['Run', 'Status', 'Counts', 'Failures', 'Pass rate', 'Duration', 'Shards', 'Started', 'Last event', 'Watching', 'New failures', 'History'];

let lastRuns = [];
let history = null; // hubhistory.js: trend and comparison, mounted below
// The page opened without a key (or with a refused one) asks for it; refresh with the new one.
// (`refresh` is a function declaration below: hoisted.)
const showKeyForm = mountKeyForm(document.getElementById('key-form'), () => refresh());

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

export function formatSeconds(seconds) {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
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
  const facts = runFacts(run);
  const row = document.createElement('tr');
  row.dataset.runId = run.run_id;
  row.dataset.status = run.status;
  row.dataset.outcome = facts.outcome;
  const name = document.createElement('td');
  const link = document.createElement('a');
  link.href = `./runs/${encodeURIComponent(run.run_id)}/`;
  link.textContent = run.run_id;
  link.dataset.testid = 'run-link';
  name.append(link);
  row.append(name);
  const status = facts.outcome === 'live' ? 'live' : facts.outcome === 'interrupted' ? 'failed' : facts.outcome;
  const label = run.status === 'live' ? 'live' : `${run.status} (${status})`;
  row.append(cell(label, `status status-${status}`));
  row.append(cell(countsText(run), 'counts'));
  row.append(cell(String(facts.failures), facts.failures > 0 ? 'failures status-failed' : 'failures'));
  row.append(cell(facts.passRate === null ? '–' : `${Math.floor(facts.passRate * 1000) / 10}%`, 'pass-rate'));
  row.append(cell(formatSeconds(facts.duration), 'duration'));
  row.append(cell(`${run.shards_finished}/${run.shards}`, 'shards'));
  row.append(cell(when(run.created)));
  row.append(cell(when(run.updated)));
  row.append(cell(String(run.viewers ?? 0)));
  // From the hub's history (hubhistory.js): new failures, and Compare with previous run.
  row.append(newFailuresCell(run), compareCell(run, (runId) => history && history.compare(runId)));
  // What each cell is, for a phone's cards (hub.css) where the header row is not shown.
  [...row.children].forEach((td, index) => { td.dataset.label = LABELS[index] ?? ''; });
  row.dataset.duration = facts.duration === null ? '' : String(facts.duration);
  row.dataset.failures = String(facts.failures);
  row.dataset.passRate = facts.passRate === null ? '' : String(facts.passRate);
  return row;
}

// The list is redrawn every REFRESH_MS. A row drawn the same as before stays the same
// element, untouched: replacing it took away the keyboard focus on its link, a click in
// flight and a text selection every two seconds (and a WebDriver's element went stale).
function keepUnchangedRows(body, rows) {
  const drawn = new Map([...body.children].map((row) => [row.dataset.runId, row]));
  rows.forEach((row, index) => {
    const before = drawn.get(row.dataset.runId);
    const wanted = before && before.isEqualNode(row) ? before : row;
    const current = body.children[index];
    if (current !== wanted) body.insertBefore(wanted, current ?? null);
  });
  while (body.children.length > rows.length) body.lastElementChild.remove();
}

export function draw() {
  const query = document.getElementById('hub-search').value;
  const outcome = document.getElementById('hub-filter').value;
  const sort = document.getElementById('hub-sort').value;
  const shown = sortRuns(filterRuns(lastRuns, { query, outcome }), sort);
  keepUnchangedRows(document.getElementById('run-rows'), shown.map(runRow));
  document.getElementById('no-runs').hidden = lastRuns.length > 0;
  document.getElementById('no-match').hidden = lastRuns.length === 0 || shown.length > 0;
  document.getElementById('hub-shown').textContent = shown.length === lastRuns.length ? '' : `${shown.length} of ${lastRuns.length} shown`;
}

export async function refresh() {
  const state = document.getElementById('hub-state');
  try {
    const response = await authorizedFetch('./api/runs', { cache: 'no-store' });
    showKeyForm(response.status === 401);
    if (response.status === 401) throw new Error('no key, or the key has expired or is not this hub\'s');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { runs } = await response.json();
    lastRuns = runs;
    draw();
    if (history) history.update(runs);
    const live = runs.filter((run) => run.status === 'live').length;
    state.textContent = `${runs.length} run(s), ${live} live`;
    state.dataset.state = 'ok';
  } catch (error) {
    state.textContent = `Cannot load the runs (${error.message}); retrying…`;
    state.dataset.state = 'error';
  }
  document.documentElement.dataset.ready = 'true';
}

mountTheme();
history = mountHubHistory(document.querySelector('main'));
for (const id of ['hub-search', 'hub-filter', 'hub-sort']) {
  document.getElementById(id).addEventListener(id === 'hub-search' ? 'input' : 'change', draw);
}
refresh();
setInterval(refresh, REFRESH_MS);
