// The hub's history on its run list (docs/hub.md, History): each run's new failures, a trend
// chart of a project and branch's last runs (duration and failures), and *Compare with
// previous run* (new failures, fixed, slower, new and removed tests). Data from
// /api/runs (each run's `history`), /api/trend and /api/compare; text only, SVG built
// element by element (no markup from the server).

import { authorizedFetch } from './credential.js';

const SVG = 'http://www.w3.org/2000/svg';
export const COMPARE_KINDS = [
  ['new_failures', 'New failures'],
  ['fixed', 'Fixed'],
  ['slower', 'Slower'],
  ['new_tests', 'New tests'],
  ['removed_tests', 'Removed tests'],
];

function node(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined) continue;
    if (key === 'text') element.textContent = String(value);
    else if (key === 'className') element.className = value;
    else element.setAttribute(key, String(value));
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

/** `project · branch` labels of the runs the history knows, newest run first, once each. */
export function labelsOf(runs) {
  const seen = new Map();
  for (const run of runs) {
    const history = run.history;
    if (!history) continue;
    const key = `${history.project}\u0000${history.branch}`;
    if (!seen.has(key)) seen.set(key, { project: history.project, branch: history.branch });
  }
  return [...seen.values()];
}

/** The run list's cell: how many of its failures are new (from the hub's history). */
export function newFailuresCell(run) {
  const count = run.history ? run.history.new_failures : null;
  const td = node('td', { className: count ? 'new-failures status-failed' : 'new-failures', 'data-testid': 'run-new-failures', text: count === null || count === undefined ? '–' : String(count) });
  td.dataset.label = 'New failures';
  return td;
}

/** A cell with the *Compare* button, for runs the history has finished. */
export function compareCell(run, onCompare) {
  const td = node('td', { className: 'compare' });
  td.dataset.label = 'History';
  if (run.history && run.history.finished !== null) {
    const button = node('button', { type: 'button', className: 'link-button', 'data-testid': 'compare-button', title: 'Compare with the previous run of its project and branch', text: 'Compare' });
    button.addEventListener('click', () => onCompare(run.run_id));
    td.append(button);
  }
  return td;
}

/** Bars per run: duration (height) over failures (red, below), oldest left. */
export function trendChart(runs, width = 640, height = 160) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'trend-chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('data-testid', 'trend-chart');
  svg.setAttribute('aria-label', `Last ${runs.length} runs: duration and failures`);
  const longest = Math.max(...runs.map((run) => run.duration ?? 0), 0.001);
  const most = Math.max(...runs.map((run) => run.failed ?? 0), 1);
  const slot = width / Math.max(runs.length, 1);
  const top = height * 0.62;
  runs.forEach((run, index) => {
    const group = document.createElementNS(SVG, 'g');
    group.setAttribute('data-testid', 'trend-bar');
    group.setAttribute('data-run-id', run.run_id);
    group.setAttribute('data-duration', String(run.duration ?? ''));
    group.setAttribute('data-failed', String(run.failed ?? 0));
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${run.run_id}: ${(run.duration ?? 0).toFixed(1)} s, ${run.failed ?? 0} failed, ${run.new_failures ?? 0} new`;
    const durationHeight = ((run.duration ?? 0) / longest) * (top - 6);
    const failedHeight = ((run.failed ?? 0) / most) * (height - top - 6);
    const bar = (className, y, h) => {
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('class', className);
      rect.setAttribute('x', String(index * slot + slot * 0.15));
      rect.setAttribute('width', String(slot * 0.7));
      rect.setAttribute('y', String(y));
      rect.setAttribute('height', String(Math.max(h, 0)));
      return rect;
    };
    group.append(title, bar('trend-duration', top - durationHeight, durationHeight), bar('trend-failed', top + 4, failedHeight));
    svg.append(group);
  });
  return svg;
}

/** The comparison as lists, one per kind of change. */
export function comparisonView(comparison) {
  const parts = [node('h2', { text: comparison.previous_run_id
    ? `${comparison.run_id} compared with ${comparison.previous_run_id}`
    : `${comparison.run_id}: no earlier run of ${comparison.project} · ${comparison.branch}` })];
  for (const [kind, title] of COMPARE_KINDS) {
    const entries = comparison[kind] ?? [];
    parts.push(node('section', { className: 'compare-kind', 'data-testid': `compare-${kind}`, 'data-count': String(entries.length) },
      node('h3', { text: `${title} (${entries.length})` }),
      node('ul', {}, ...entries.map((entry) => node('li', { 'data-test-id': entry.test_id, text: describe(kind, entry) })))));
  }
  return parts;
}

function describe(kind, entry) {
  if (kind === 'removed_tests') return `${entry.test_id} (was ${entry.previous_result})`;
  if (kind === 'slower') return `${entry.test_id}: ${entry.previous_duration.toFixed(2)} s → ${entry.duration.toFixed(2)} s`;
  return entry.previous_result ? `${entry.test_id}: ${entry.previous_result} → ${entry.result}` : `${entry.test_id}: ${entry.result}`;
}

async function getJson(path) {
  const response = await authorizedFetch(path, { cache: 'no-store' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** The history panel under the run list: the trend of a chosen project/branch, a comparison. */
export function mountHubHistory(parent) {
  const select = node('select', { 'data-testid': 'trend-label', 'aria-label': 'Project and branch' });
  const chart = node('div', { className: 'trend', 'data-testid': 'trend' });
  const compare = node('div', { className: 'comparison', 'data-testid': 'comparison', hidden: '' });
  const panel = node('section', { className: 'hub-history', 'data-testid': 'hub-history', 'aria-label': 'History', hidden: '' },
    node('h2', { text: 'Trend' }), select, chart, compare);
  parent.append(panel);
  let labels = [];

  async function drawTrend() {
    const chosen = labels[Number(select.value)] ?? labels[0];
    if (!chosen) return;
    try {
      const { runs } = await getJson(`./api/trend?project=${encodeURIComponent(chosen.project)}&branch=${encodeURIComponent(chosen.branch)}`);
      chart.replaceChildren(...(runs.length
        ? [trendChart(runs), node('p', { className: 'trend-legend', text: `Last ${runs.length} finished runs, oldest left: duration (blue, up to ${Math.max(...runs.map((r) => r.duration ?? 0)).toFixed(1)} s) above, failures (red, up to ${Math.max(...runs.map((r) => r.failed ?? 0))}) below.` })]
        : [node('p', { className: 'empty', text: 'No finished run yet.' })]));
    } catch (error) {
      chart.replaceChildren(node('p', { className: 'empty', text: `Cannot load the trend (${error.message})` }));
    }
  }
  select.addEventListener('change', drawTrend);

  return {
    /** The run list changed: offer its projects and branches. */
    update(runs) {
      const fresh = labelsOf(runs);
      panel.hidden = fresh.length === 0;
      const same = fresh.length === labels.length && fresh.every((l, i) => l.project === labels[i].project && l.branch === labels[i].branch);
      if (same) return;
      const previous = labels[Number(select.value)];
      labels = fresh;
      select.replaceChildren(...labels.map((l, i) => node('option', { value: String(i), text: `${l.project} · ${l.branch || '(no branch)'}` })));
      const keep = previous ? labels.findIndex((l) => l.project === previous.project && l.branch === previous.branch) : -1;
      select.value = String(Math.max(keep, 0));
      drawTrend();
    },
    async compare(runId) {
      compare.hidden = false;
      try {
        compare.replaceChildren(...comparisonView(await getJson(`./api/compare?run_id=${encodeURIComponent(runId)}`)));
      } catch (error) {
        compare.replaceChildren(node('p', { className: 'empty', text: `Cannot compare (${error.message})` }));
      }
      compare.scrollIntoView({ block: 'nearest' });
    },
    redrawTrend: drawTrend,
  };
}
