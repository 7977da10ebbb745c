// Small DOM and formatting helpers shared by the views.
//
// Everything that may contain test data goes through textContent: the viewer never builds
// HTML from strings, so a test name or traceback cannot inject markup or script.

/**
 * Create an element. `props` may hold className, text (set as textContent), dataset,
 * and any other attributes (set with setAttribute).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'className') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return formatClock(seconds);
}

/** 75 -> "1m 15s", 3700 -> "1h 01m". */
export function formatClock(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m ${String(secs).padStart(2, '0')}s`;
  return `${secs}s`;
}

// The last timestamp text parsed, and its time. A run's events come many to a millisecond
// (a trivial test's five), and the panels place every event in time (timeline.js,
// monitor.js): Date.parse was two thirds of the timeline's work for a late joiner of
// 100,000 tests (docs/benchmarks.md).
let lastStampText = null;
let lastStampMs = NaN;

/** Date.parse of an event's timestamp, remembering the last one. */
export function timestampMs(text) {
  if (text !== lastStampText) {
    lastStampText = text;
    lastStampMs = Date.parse(text);
  }
  return lastStampMs;
}

export function formatTime(isoTimestamp) {
  const date = new Date(isoTimestamp);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
