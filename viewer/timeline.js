// WorkerTimeline: one lane per worker (`main` in a serial run, gw0, gw1 … under xdist; on a
// hub, per shard: `part-a`, or `part-a gw1` for a shard under xdist, as every shard has its
// own `main` and `gw0`), one bar per test from its start to its end coloured by outcome, so
// idle time shows as gaps: at a glance, gw1 sat idle for the last 40 s. Hover names the
// test, a click selects it. It is
// a panel of the LiveView (views.js): fed the batches the store gets, cleared and re-fed
// when the timeline scrubber moves, so it shows the run as of the moment shown.
//
// timelineModel/applyTimelineEvent are pure (no DOM); the drawing is a <canvas>, with the
// same facts in words beside it (per worker: tests, busy share, idle at the end).

import { el, setText, formatDuration, formatClock, timestampMs } from './dom.js';
import { laneOf, laneOrder } from './lanes.js';

export const TIMELINE_LANE_PX = 16;
export const TIMELINE_LABEL_PX = 48;
export const TIMELINE_DRAW_MS = 250;
// Idle at the end worth saying in words (seconds).
export const TIMELINE_IDLE_NOTE_S = 2;

export function timelineModel() {
  return { startMs: null, endMs: null, lanes: new Map(), open: new Map(), bars: 0, finished: false };
}

function timelineLane(model, event) {
  const where = laneOf(event);
  let lane = model.lanes.get(where.label);
  if (!lane) {
    lane = { ...where, bars: [] };
    model.lanes.set(where.label, lane);
  }
  return lane;
}

function stretch(model, t) {
  if (!Number.isFinite(t)) return;
  if (model.startMs === null || t < model.startMs) model.startMs = t;
  if (model.endMs === null || t > model.endMs) model.endMs = t;
}

/** Apply one event; true when something drawn changed. */
export function applyTimelineEvent(model, event) {
  const t = timestampMs(event.timestamp);
  switch (event.type) {
    case 'session_started':
      stretch(model, Date.parse(event.start_time ?? event.timestamp));
      return true;
    case 'worker_started':
      stretch(model, t);
      timelineLane(model, event);
      return true;
    case 'test_started': {
      stretch(model, t);
      const lane = timelineLane(model, event);
      const bar = { id: event.test_id, name: event.test_name || event.test_id, worker: lane.label, start: t, end: null, result: 'running' };
      lane.bars.push(bar);
      model.open.set(event.test_id, bar);
      model.bars += 1;
      return true;
    }
    case 'test_completed': {
      stretch(model, t);
      const bar = model.open.get(event.test_id);
      if (!bar) return true;
      bar.end = t;
      bar.result = event.result;
      model.open.delete(event.test_id);
      return true;
    }
    case 'session_finished':
      stretch(model, t);
      model.finished = true;
      for (const bar of model.open.values()) bar.end = t; // never finished: drawn to the end
      model.open.clear();
      return true;
    default: {
      // Any later event (a monitor sample, a log line) moves the live run's "now": the idle
      // gaps grow and must be redrawn even while no test starts or ends (a worker waiting on
      // the last long test is only seen idle this way).
      if (!Number.isFinite(t) || typeof event.seq !== 'number') return false;
      const before = model.endMs;
      stretch(model, t);
      return !model.finished && model.lanes.size > 0 && model.endMs !== before;
    }
  }
}

/** The time a lane's idling is counted to: the latest event while the run goes on; once it
 * has finished, the end of its last test (what pytest and xdist do after it, summaries and
 * shutting workers down, is nobody's idle time: it took 9 s after 5,000 tests here). */
function idleUntil(model) {
  if (!model.finished) return model.endMs ?? 0;
  let end = model.startMs ?? 0;
  for (const lane of model.lanes.values()) {
    for (const bar of lane.bars) if (bar.end !== null && bar.end > end) end = bar.end;
  }
  return end;
}

/** Per lane, in order: tests run, busy seconds, and idle seconds at the end. */
export function laneFacts(model) {
  const end = idleUntil(model);
  return [...model.lanes.values()]
    .sort(laneOrder)
    .map((lane) => {
      let busy = 0;
      let lastEnd = model.startMs ?? end;
      let running = false;
      for (const bar of lane.bars) {
        const barEnd = bar.end ?? end;
        if (bar.end === null) running = true;
        busy += Math.max(0, barEnd - bar.start);
        lastEnd = Math.max(lastEnd, barEnd);
      }
      return {
        worker: lane.label,
        tests: lane.bars.length,
        busySeconds: busy / 1000,
        idleAtEndSeconds: running ? 0 : Math.max(0, (end - lastEnd) / 1000),
      };
    });
}

/** The bar of `bars` (in start order) under time `t`, or null. */
export function barAt(bars, t, slackMs = 0) {
  let low = 0;
  let high = bars.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (bars[middle].start <= t + slackMs) low = middle + 1;
    else high = middle;
  }
  for (let i = low - 1; i >= 0 && i >= low - 3; i -= 1) {
    const bar = bars[i];
    if (t >= bar.start - slackMs && t <= (bar.end ?? Infinity) + slackMs) return bar;
  }
  return null;
}

const TIMELINE_STATUS_VARS = {
  passed: '--passed', failed: '--failed', error: '--error', crashed: '--crashed', skipped: '--skipped',
  xfailed: '--xfailed', xpassed: '--xpassed', running: '--running', rerun: '--xpassed',
};

// Drawn over the others (a 1 ms failure among 5,000 passes is still seen).
const TIMELINE_ON_TOP = new Set(['failed', 'error', 'crashed']);

export class WorkerTimeline {
  constructor(onSelect = null) {
    this.onSelect = onSelect;
    this.model = timelineModel();
    this.drawTimer = null;
    this.labelPx = TIMELINE_LABEL_PX;
    this.canvas = el('canvas', { className: 'worker-timeline-canvas', role: 'img', 'aria-label': 'Worker timeline' });
    this.tip = el('div', { className: 'timeline-tip', role: 'tooltip', hidden: true });
    this.facts = el('ul', { className: 'timeline-facts', 'data-testid': 'timeline-facts' });
    this.root = el('section', { className: 'worker-timeline', 'data-testid': 'worker-timeline', 'aria-label': 'Worker timeline', hidden: true },
      el('h2', { className: 'lanes-title fact-label', text: 'Timeline by worker' }),
      el('div', { className: 'timeline-plot' }, this.canvas, this.tip),
      this.facts);
    this.root.dataset.bars = '0';
    this.canvas.addEventListener('mousemove', (event) => this.hover(event));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this.canvas.addEventListener('click', (event) => {
      const bar = this.barFor(event);
      if (bar && this.onSelect) this.onSelect(bar.id);
    });
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.requestDraw()).observe(this.canvas);
    window.addEventListener('jb-live-theme', () => this.requestDraw());
  }

  clear() {
    this.model = timelineModel();
    this.root.hidden = true;
    this.requestDraw();
  }

  applyEvents(messages) {
    let changed = false;
    for (const message of messages) {
      if (message.type === 'reset') {
        this.model = timelineModel();
        changed = true;
      } else if (typeof message.seq === 'number' && applyTimelineEvent(this.model, message)) {
        changed = true;
      }
    }
    if (changed) this.requestDraw();
  }

  requestDraw() {
    if (this.drawTimer !== null) return;
    this.drawTimer = setTimeout(() => {
      this.drawTimer = null;
      requestAnimationFrame(() => this.draw());
    }, TIMELINE_DRAW_MS);
  }

  geometry() {
    const model = this.model;
    const width = Math.max(1, this.canvas.clientWidth);
    const t0 = model.startMs ?? 0;
    const span = Math.max(1000, (model.endMs ?? t0) - t0);
    const label = this.labelPx;
    const plot = Math.max(1, width - label - 4);
    return { width, t0, span, plot, label, x: (t) => label + ((t - t0) / span) * plot };
  }

  lanesInOrder() {
    return [...this.model.lanes.values()].sort(laneOrder);
  }

  draw() {
    const model = this.model;
    const lanes = this.lanesInOrder();
    const anyBars = lanes.some((lane) => lane.bars.length > 0);
    this.root.hidden = !anyBars;
    if (!anyBars) {
      this.root.dataset.bars = '0';
      return;
    }
    const style = getComputedStyle(document.documentElement);
    // Read once a draw: a CSS variable lookup per bar was most of a 5,000-bar draw's time.
    const colours = new Map();
    const colour = (name) => {
      if (!colours.has(name)) colours.set(name, style.getPropertyValue(name).trim() || '#888');
      return colours.get(name);
    };
    const ratio = window.devicePixelRatio || 1;
    const height = lanes.length * TIMELINE_LANE_PX + 14;
    this.canvas.style.height = `${height}px`;
    const { width } = this.geometry();
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px sans-serif';
    // Room for the longest lane name (a shard's `part-a gw1`), never most of the width.
    const widest = Math.max(...lanes.map((lane) => ctx.measureText(lane.label).width));
    this.labelPx = Math.round(Math.min(Math.max(TIMELINE_LABEL_PX, widest + 8), width * 0.4));
    const { span, x, label } = this.geometry();
    let drawn = 0;
    lanes.forEach((lane, index) => {
      const top = index * TIMELINE_LANE_PX;
      // The lane itself: what shows through the gaps is idle time.
      ctx.fillStyle = colour('--panel-2');
      ctx.fillRect(label, top + 2, width - label - 4, TIMELINE_LANE_PX - 4);
      ctx.fillStyle = colour('--muted');
      ctx.fillText(lane.label, 2, top + TIMELINE_LANE_PX - 4);
      // Bars of one colour that touch (within half a pixel) are one rectangle: thousands of
      // fast tests are a few hundred pixels wide.
      let run = null;
      const failures = [];
      const flush = () => {
        if (run === null) return;
        ctx.fillStyle = run.fill;
        ctx.fillRect(run.from, top + 3, Math.max(1, run.to - run.from), TIMELINE_LANE_PX - 6);
        run = null;
      };
      for (const bar of lane.bars) {
        const from = x(bar.start);
        const to = Math.max(x(bar.end ?? model.endMs ?? bar.start), from + 1);
        const fill = colour(TIMELINE_STATUS_VARS[bar.result] ?? '--error');
        if (run !== null && run.fill === fill && from <= run.to + 0.5) {
          run.to = Math.max(run.to, to);
        } else {
          flush();
          run = { fill, from, to };
        }
        drawn += 1;
        if (TIMELINE_ON_TOP.has(bar.result)) failures.push({ fill, from, to });
      }
      flush();
      // Failures on top, two pixels at least: the passed tests around one never hide it.
      for (const bar of failures) {
        ctx.fillStyle = bar.fill;
        ctx.fillRect(bar.from, top + 2, Math.max(2, bar.to - bar.from), TIMELINE_LANE_PX - 4);
      }
    });
    ctx.fillStyle = colour('--muted');
    ctx.fillText('0s', label, height - 2);
    const spanText = formatClock(span / 1000);
    ctx.fillText(spanText, width - 4 - ctx.measureText(spanText).width, height - 2);
    this.root.dataset.bars = String(drawn);
    this.root.dataset.lanes = lanes.map((lane) => lane.label).join(',');
    this.drawFacts();
  }

  drawFacts() {
    const facts = laneFacts(this.model);
    const lines = facts.map((fact) => {
      const idle = fact.idleAtEndSeconds >= TIMELINE_IDLE_NOTE_S ? `, idle for the last ${formatClock(fact.idleAtEndSeconds)}` : '';
      return `${fact.worker}: ${fact.tests} test${fact.tests === 1 ? '' : 's'}, busy ${formatClock(fact.busySeconds)}${idle}`;
    });
    this.canvas.setAttribute('aria-label', `Worker timeline. ${lines.join('. ')}`);
    const items = this.facts.children;
    while (items.length > lines.length) this.facts.lastChild.remove();
    lines.forEach((line, index) => {
      if (index >= items.length) this.facts.append(el('li'));
      setText(items[index], line);
      items[index].dataset.worker = facts[index].worker;
    });
  }

  barFor(event) {
    const lanes = this.lanesInOrder();
    const rect = this.canvas.getBoundingClientRect();
    const lane = lanes[Math.floor((event.clientY - rect.top) / TIMELINE_LANE_PX)];
    if (!lane) return null;
    const { t0, span, plot, label } = this.geometry();
    const t = t0 + ((event.clientX - rect.left - label) / plot) * span;
    // Two pixels of slack: a fast test is a one-pixel bar.
    return barAt(lane.bars, t, (2 / plot) * span);
  }

  hover(event) {
    const bar = this.barFor(event);
    this.canvas.style.cursor = bar ? 'pointer' : 'default';
    if (!bar) {
      this.tip.hidden = true;
      return;
    }
    const seconds = ((bar.end ?? this.model.endMs ?? bar.start) - bar.start) / 1000;
    setText(this.tip, `${bar.id} · ${bar.result} · ${formatDuration(seconds)} · ${bar.worker}`);
    this.tip.hidden = false;
    const rect = this.canvas.getBoundingClientRect();
    const left = Math.min(event.clientX - rect.left + 12, Math.max(0, rect.width - this.tip.offsetWidth));
    this.tip.style.left = `${left}px`;
    this.tip.style.top = `${event.clientY - rect.top + 14}px`;
  }
}

export function mountTimeline(view, parent) {
  const timeline = new WorkerTimeline((testId) => view.revealAndSelect(testId));
  parent.append(timeline.root);
  view.addPanel(timeline);
  view.timeline = timeline;
  return timeline;
}
