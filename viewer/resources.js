// Per-test resources: what each test cost the process that ran it (`cpu_seconds`,
// `rss_growth` of its test_completed), shown in its detail beside a sparkline of the
// machine's CPU and memory over the test's window (the monitor's system_status samples),
// and the Heaviest tests panel ranking tests by CPU and by memory growth — how a user
// finds the test that leaks.

import { el, formatDuration } from './dom.js';
import { splitNodeId } from './protocol.js';

export const HEAVIEST = 8;
export const HEAVIEST_DRAW_MS = 300;
const SVG = 'http://www.w3.org/2000/svg';

// Memory growth, signed (`+1.5 MB`). Not `formatBytes`: monitor.js has that name, and the
// report concatenates the modules, where a name may be declared once.
export function formatByteGrowth(bytes) {
  const sign = bytes < 0 ? '−' : '+';
  let value = Math.abs(bytes);
  for (const unit of ['B', 'KB', 'MB', 'GB']) {
    if (value < 1024 || unit === 'GB') return `${sign}${unit === 'B' ? value : value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${sign}${value} B`;
}

/**
 * The `limit` entries (any iterable) with the largest positive `key`, largest first; of
 * equal ones the earlier. One pass that keeps the few best: sorting every finished test
 * each draw was the largest part of a late joiner's scripts at 100,000 tests
 * (docs/benchmarks.md).
 */
export function topBy(entries, key, limit) {
  const top = [];
  if (limit <= 0) return top;
  for (const entry of entries) {
    const value = entry[key];
    if (typeof value !== 'number' || !(value > 0)) continue;
    if (top.length === limit && value <= top[limit - 1][key]) continue;
    let at = top.length;
    while (at > 0 && top[at - 1][key] < value) at -= 1;
    top.splice(at, 0, entry);
    if (top.length > limit) top.pop();
  }
  return top;
}

/** The samples ({at, cpu, memory}) in [from, to], with one before and after if there are. */
export function samplesIn(samples, from, to) {
  const inside = [];
  let before = null;
  let after = null;
  for (const sample of samples) {
    if (sample.at < from) before = sample;
    else if (sample.at <= to) inside.push(sample);
    else if (after === null) after = sample;
  }
  return [before, ...inside, after].filter(Boolean);
}

/** An SVG sparkline of `values` (0-100) over `width` x `height`. */
export function sparkline(values, className, width = 160, height = 28) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', `sparkline ${className}`);
  const line = document.createElementNS(SVG, 'polyline');
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${(height - (Math.max(0, Math.min(100, v)) / 100) * height).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}

export class ResourcePanel {
  constructor(onSelect) {
    this.onSelect = onSelect;
    this.tests = new Map(); // test id -> {id, name, cpu, memory}
    this.samples = []; // {at (ms), cpu, memory}: the machine's, from system_status
    this.timer = null;
    this.cpuList = el('ol', { className: 'slowest-list', 'aria-label': 'Most CPU' });
    this.memoryList = el('ol', { className: 'slowest-list', 'aria-label': 'Most memory growth' });
    this.root = el('section', { className: 'slowest heaviest', 'data-testid': 'heaviest', 'aria-label': 'Heaviest tests', hidden: true },
      el('h2', { className: 'lanes-title fact-label', text: 'Heaviest tests: CPU' }), this.cpuList,
      el('h2', { className: 'lanes-title fact-label', text: 'Heaviest tests: memory growth' }), this.memoryList);
    this.root.addEventListener('click', (event) => {
      const button = event.target.closest('button');
      if (button && button.dataset.testId !== undefined) this.onSelect(button.dataset.testId);
    });
  }

  clear() {
    this.tests.clear();
    this.samples = [];
    this.draw();
  }

  applyEvents(messages) {
    let changed = false;
    for (const message of messages) {
      if (message.type === 'reset') {
        this.tests.clear();
        this.samples = [];
        changed = true;
      } else if (message.type === 'system_status') {
        const at = Date.parse(message.timestamp);
        if (!Number.isNaN(at)) this.samples.push({ at, cpu: message.cpu_usage, memory: message.memory_usage });
      } else if (message.type === 'test_completed' && message.result !== 'rerun'
        && (typeof message.cpu_seconds === 'number' || typeof message.rss_growth === 'number')) {
        this.tests.set(message.test_id, {
          id: message.test_id, name: splitNodeId(String(message.test_id)).name,
          cpu: message.cpu_seconds, memory: message.rss_growth,
        });
        changed = true;
      }
    }
    if (changed && this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.draw();
      }, HEAVIEST_DRAW_MS);
    }
  }

  draw() {
    this.root.hidden = this.tests.size === 0;
    this.fill(this.cpuList, topBy(this.tests.values(), 'cpu', HEAVIEST), 'heaviest-cpu', (e) => formatDuration(e.cpu));
    this.fill(this.memoryList, topBy(this.tests.values(), 'memory', HEAVIEST), 'heaviest-memory', (e) => formatByteGrowth(e.memory));
  }

  fill(list, entries, testid, amount) {
    list.replaceChildren(...entries.map((entry) => el('li', {},
      el('button', { type: 'button', className: 'slowest-row', 'data-testid': testid, title: entry.id, dataset: { testId: entry.id } },
        el('span', { className: 'slowest-time', text: amount(entry) }),
        el('span', { className: 'slowest-name', text: entry.id })))));
  }

  /** The detail's section for a finished test that says what it cost. */
  section(test) {
    const entry = this.tests.get(test.id);
    if (!entry) return null;
    const facts = [];
    if (typeof entry.cpu === 'number') facts.push(`CPU ${formatDuration(entry.cpu)}`);
    if (typeof entry.memory === 'number') facts.push(`memory ${formatByteGrowth(entry.memory)}`);
    const parts = [el('div', { className: 'detail-facts', 'data-testid': 'test-resources', text: `${facts.join(' · ')} (its own process)` })];
    const start = test.startedMs ?? (test.startedAt ? Date.parse(test.startedAt) : NaN);
    if (!Number.isNaN(start) && typeof test.duration === 'number') {
      const window = samplesIn(this.samples, start, start + test.duration * 1000);
      if (window.length >= 2) {
        parts.push(el('div', { className: 'resource-sparks', 'data-testid': 'resource-sparkline', dataset: { samples: String(window.length) } },
          el('span', { className: 'fact-label', text: 'machine CPU' }), sparkline(window.map((s) => s.cpu ?? 0), 'cpu'),
          el('span', { className: 'fact-label', text: 'memory' }), sparkline(window.map((s) => s.memory ?? 0), 'memory')));
      }
    }
    return el('section', { className: 'detail-section' }, el('h3', { text: 'Resources' }), ...parts);
  }
}

export function mountResources(view, parent) {
  const panel = new ResourcePanel((testId) => view.revealAndSelect(testId));
  parent.append(panel.root);
  view.addPanel(panel);
  view.detail.extraSections.push((test) => [panel.section(test)]);
  view.resources = panel;
  return panel;
}
