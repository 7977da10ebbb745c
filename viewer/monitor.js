// MonitorChart: the machine's CPU and memory over the run, drawn on a <canvas>, with each
// test's start and each failure marked on the same time axis, and resource alerts as they
// come (docs/monitor.md). Hidden until the first `system_status`: with the monitor off
// (--jb-live-monitor-interval 0) the page shows nothing of it.
//
// LiveView (views.js) mounts it in the page's panels row with `mountMonitor(view, parent)` and
// feeds it what it applies to the store. Everything shown that comes from events goes through
// textContent.

import { el, setText, formatClock, formatTime, timestampMs } from './dom.js';
import { isFailureResult } from './protocol.js';

export const MONITOR_CHART_HEIGHT = 120;
export const MONITOR_ALERT_LIMIT = 20;
// Redraw at most this often; a 20k-test replay arrives as one batch and draws once.
export const MONITOR_DRAW_MS = 250;
export const MONITOR_FALLBACK_COLOURS = {
  cpu: '#5aa8ff', memory: '#b48cf2', started: '#5c6676', failed: '#f25f5c',
  warning: '#e3b341', critical: '#f25f5c', resolved: '#3fb950', grid: '#272f3b', text: '#8b96a8',
};

export function monitorColours() {
  const style = getComputedStyle(document.documentElement);
  const pick = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  const f = MONITOR_FALLBACK_COLOURS;
  return {
    cpu: pick('--running', f.cpu), memory: pick('--xfailed', f.memory), started: pick('--faint', f.started),
    failed: pick('--failed', f.failed), warning: pick('--xpassed', f.warning), critical: pick('--failed', f.critical),
    resolved: pick('--passed', f.resolved), grid: pick('--border', f.grid), text: pick('--muted', f.text),
  };
}

export function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

/** The numbers line under the chart, from the latest `system_status`. */
export function monitorSummary(status) {
  const pct = (value) => (typeof value === 'number' ? `${Math.round(value)}%` : '–');
  const parts = [`CPU ${pct(status.cpu_usage)}`, `memory ${pct(status.memory_usage)}`];
  if (typeof status.process_rss === 'number') {
    parts.push(`run ${formatBytes(status.process_rss)} in ${status.process_count} processes, CPU ${pct(status.process_cpu)} of a core`);
  }
  if (typeof status.open_files === 'number') parts.push(`${status.open_files} open files`);
  if (typeof status.disk_free === 'number') parts.push(`${formatBytes(status.disk_free)} free on disk`);
  parts.push(`${status.active_tests} running, ${status.queue_size} queued`);
  return parts.join(' · ');
}

export class MonitorChart {
  constructor() {
    this.canvas = el('canvas', { className: 'monitor-canvas', 'data-testid': 'monitor-canvas', role: 'img',
      'aria-label': 'CPU and memory over the run, with test starts and failures' });
    this.canvas.style.display = 'block';
    this.canvas.style.width = '100%';
    this.canvas.style.height = `${MONITOR_CHART_HEIGHT}px`;
    this.numbers = el('div', { className: 'monitor-numbers fact', 'data-testid': 'monitor-numbers' });
    this.alertList = el('ul', { className: 'monitor-alerts', 'data-testid': 'monitor-alerts' });
    this.colours = null;
    const key = (series, text) => {
      // Coloured by style.css from the theme's variables (theme.js switches them).
      return el('span', { 'data-series': series, text });
    };
    const legend = el('span', { className: 'monitor-legend fact-label' },
      key('cpu', '— CPU %'), key('memory', '— memory %'), key('started', '| test start'), key('failed', '| failure'));
    const summary = el('summary', { className: 'fact-label' }, 'System  ', legend);
    this.root = el('details', { className: 'monitor', 'data-testid': 'monitor', open: true },
      summary, this.canvas, this.numbers, this.alertList);
    this.root.hidden = true;
    this.lastDraw = 0;
    this.drawTimer = null;
    this.clear();
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.requestDraw()).observe(this.canvas);
    window.addEventListener('jb-live-theme', () => {
      this.colours = null;
      this.requestDraw();
    });
  }

  /** Forget the run (a `reset`: a full replay follows). */
  clear() {
    this.startMs = null;
    this.endMs = null;
    this.samples = []; // {t, cpu, memory}
    this.starts = []; // ms of each test_started
    this.failures = []; // {t, id}
    this.alerts = []; // resource_alert events, oldest first
    this.latest = null;
    this.alertList.replaceChildren();
    this.root.hidden = true;
    this.dirty = true;
  }

  applyEvents(messages) {
    for (const message of messages) this.applyEvent(message);
    if (this.dirty) this.requestDraw();
  }

  applyEvent(message) {
    if (message.type === 'reset') {
      this.clear();
      return;
    }
    if (typeof message.seq !== 'number') return;
    switch (message.type) {
      case 'session_started':
        this.startMs = Date.parse(message.start_time ?? message.timestamp);
        break;
      case 'system_status':
        this.addSample(message);
        break;
      case 'test_started':
        this.starts.push(this.at(message));
        break;
      case 'test_completed':
        if (isFailureResult(message.result)) {
          this.failures.push({ t: this.at(message), id: message.test_id });
        }
        break;
      case 'resource_alert':
        this.addAlert(message);
        break;
      case 'session_finished':
        this.at(message);
        break;
      default:
        return;
    }
    this.dirty = true;
  }

  /** The event's time in ms; it also stretches the time axis. */
  at(event) {
    const t = timestampMs(event.timestamp);
    if (this.startMs === null || t < this.startMs) this.startMs = t;
    if (this.endMs === null || t > this.endMs) this.endMs = t;
    return t;
  }

  addSample(status) {
    const t = this.at(status);
    this.samples.push({ t, cpu: status.cpu_usage, memory: status.memory_usage });
    this.latest = status;
    this.root.hidden = false;
    setText(this.numbers, monitorSummary(status));
  }

  addAlert(alert) {
    const t = this.at(alert);
    this.alerts.push({ t, alert });
    this.root.hidden = false;
    const state = alert.state ?? 'raised';
    const item = el('li', {
      className: `monitor-alert monitor-alert-${state}`, 'data-testid': 'monitor-alert',
      dataset: { alertType: alert.alert_type, severity: alert.severity, state },
    }, `${formatTime(alert.timestamp)} ${alert.severity}${state === 'resolved' ? ' resolved' : ''}: ${alert.message}`);
    // Coloured by style.css (data-severity, data-state) from the theme's variables.
    this.alertList.prepend(item);
    while (this.alertList.children.length > MONITOR_ALERT_LIMIT) this.alertList.lastChild.remove();
  }

  colour(name) {
    if (this.colours === null) this.colours = monitorColours();
    return this.colours[name];
  }

  requestDraw() {
    if (this.drawTimer !== null) return;
    const wait = Math.max(0, MONITOR_DRAW_MS - (performance.now() - this.lastDraw));
    this.drawTimer = setTimeout(() => {
      this.drawTimer = null;
      requestAnimationFrame(() => this.draw());
    }, wait);
  }

  /** Draw everything; what falls on the same pixel column is drawn once. */
  draw() {
    this.lastDraw = performance.now();
    this.dirty = false;
    if (this.root.hidden) return;
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(MONITOR_CHART_HEIGHT * ratio));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const left = 34 * ratio;
    const top = 6 * ratio;
    const bottom = height - 14 * ratio;
    const plotWidth = Math.max(1, width - left - 4 * ratio);
    const t0 = this.startMs ?? 0;
    const span = Math.max(1000, (this.endMs ?? t0) - t0);
    const x = (t) => left + ((t - t0) / span) * plotWidth;
    const y = (pct) => bottom - (Math.min(100, Math.max(0, pct)) / 100) * (bottom - top);

    ctx.font = `${10 * ratio}px sans-serif`;
    ctx.fillStyle = this.colour('text');
    ctx.strokeStyle = this.colour('grid');
    ctx.lineWidth = 1;
    for (const pct of [0, 50, 100]) {
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y(pct)) + 0.5);
      ctx.lineTo(left + plotWidth, Math.round(y(pct)) + 0.5);
      ctx.stroke();
      ctx.fillText(`${pct}%`, 2 * ratio, y(pct) + 3 * ratio);
    }
    ctx.fillText(formatClock(span / 1000), left + plotWidth - 40 * ratio, height - 2 * ratio);
    ctx.fillText('0s', left, height - 2 * ratio);

    this.drawColumns(ctx, this.starts, x, bottom - 5 * ratio, bottom, this.colour('started'));
    this.drawColumns(ctx, this.failures.map((f) => f.t), x, top, bottom, this.colour('failed'));
    for (const { t, alert } of this.alerts) {
      const name = alert.state === 'resolved' ? 'resolved' : alert.severity === 'critical' ? 'critical' : 'warning';
      ctx.strokeStyle = this.colour(name);
      ctx.setLineDash([3 * ratio, 3 * ratio]);
      ctx.beginPath();
      ctx.moveTo(Math.round(x(t)) + 0.5, top);
      ctx.lineTo(Math.round(x(t)) + 0.5, bottom);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.lineWidth = 2 * ratio;
    this.drawSeries(ctx, 'cpu', x, y, this.colour('cpu'));
    this.drawSeries(ctx, 'memory', x, y, this.colour('memory'));
    this.canvas.dataset.samples = String(this.samples.length);
    this.canvas.dataset.starts = String(this.starts.length);
    this.canvas.dataset.failures = String(this.failures.length);
  }

  drawColumns(ctx, times, x, from, to, colour) {
    const drawn = new Set();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const t of times) {
      const column = Math.round(x(t));
      if (drawn.has(column)) continue;
      drawn.add(column);
      ctx.moveTo(column + 0.5, from);
      ctx.lineTo(column + 0.5, to);
    }
    ctx.stroke();
  }

  drawSeries(ctx, key, x, y, colour) {
    ctx.strokeStyle = colour;
    ctx.beginPath();
    let pen = false;
    for (const sample of this.samples) {
      const value = sample[key];
      if (typeof value !== 'number') {
        pen = false; // a sample psutil could not take: a gap, not a drop to zero
        continue;
      }
      if (pen) ctx.lineTo(x(sample.t), y(value));
      else ctx.moveTo(x(sample.t), y(value));
      pen = true;
    }
    ctx.stroke();
  }
}

/**
 * Put the chart on the page of a LiveView (views.js) and keep it fed: the view calls
 * `mountMonitor(this, panels)` in its constructor. The panel goes into `parent` (or after
 * the run summary); the view hands it every batch it applies, and rebuilds it when the
 * timeline is scrubbed (clear, then the events up to that point).
 */
export function mountMonitor(view, parent = null) {
  const chart = new MonitorChart();
  if (parent) parent.append(chart.root);
  else document.querySelector('.summary').after(chart.root);
  view.addPanel(chart);
  return chart;
}
