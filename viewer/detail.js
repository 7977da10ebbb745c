// DetailPanel: everything known about the selected test.

import { el, formatDuration, formatTime } from './dom.js';
import { ansiElement } from './ansi.js';
import { tracebackElement, outputElement, failureTools } from './failures.js';
import { attemptsSection } from './attempts.js';
import { isFlaky } from './counting.js';
import { PHASES } from './protocol.js';
import { showImage } from './credential.js';

// How each timeline event type reads in one line.
// A screenshot's address as events carry it (`/screenshots/ID.png`) is the run's own:
// taken relative to the page, so it is the same file on a run's server (page at `/`)
// and on a hub (page at `/runs/ID/`). Other addresses (data:, a report's) stay as they are.
export function screenshotSource(url) {
  if (!url.startsWith('/') || url.startsWith('//')) return url;
  return new URL(`.${url}`, document.baseURI).pathname;
}

export function describeTimelineEvent(event) {
  switch (event.type) {
    case 'browser_action':
      return [event.action, event.element, event.url].filter(Boolean).join(' · ');
    case 'page_loaded':
      return `${event.url ?? ''}${typeof event.load_time === 'number' ? ` · ${Math.round(event.load_time)} ms` : ''}`;
    case 'screenshot_captured':
      return event.screenshot_id ?? '';
    case 'log_record':
      return `${event.level ?? ''} ${event.logger ?? ''}: ${event.message ?? ''}`;
    case 'custom':
      return `${event.name ?? ''} ${JSON.stringify(event.data ?? null)}`;
    case 'warning':
      return `${event.source ? `${event.source}: ` : ''}${event.message ?? ''}`;
    case 'worker_started':
      return `${event.worker} started${event.python ? ` (Python ${event.python})` : ''}`;
    case 'worker_finished':
      return `${event.worker} finished${event.dropped_events ? `, ${event.dropped_events} events lost` : ''}`;
    case 'worker_crashed':
      return `${event.worker} crashed${event.test_id ? ` in ${event.test_id}` : ''}: ${event.error ?? ''}`;
    case 'test_completed':
      return `attempt failed, run again: ${event.summary || event.result}`;
    case 'pytest_warning':
      return `${event.category ?? 'Warning'}: ${event.message ?? ''} (${event.filename ?? '?'}:${event.lineno ?? '?'})`;
    default:
      return event.type;
  }
}

export const TIMELINE_LABELS = {
  browser_action: 'action',
  page_loaded: 'page load',
  screenshot_captured: 'screenshot',
  log_record: 'log',
  custom: 'event',
  warning: 'warning',
  worker_started: 'worker',
  worker_finished: 'worker',
  worker_crashed: 'crash',
  test_completed: 'rerun',
  pytest_warning: 'pytest warning',
};

export class DetailPanel {
  constructor(root) {
    this.root = root;
    this.testId = null;
    this.runEvents = 0; // how many run events the empty panel shows
    // (test) => [sections] that other modules add after the header (stack.js).
    this.extraSections = [];
    this.showEmpty([]);
  }

  /** No test selected: a hint, and the run's own events (warnings, workers, custom events). */
  showEmpty(runTimeline) {
    this.runEvents = runTimeline.length;
    const parts = [
      el('div', { className: 'detail-empty' },
        el('p', { text: 'Select a test to see its steps, output and failure.' }),
        el('p', { className: 'hint', text: '↑ / ↓ move through the list.' })),
    ];
    if (runTimeline.length > 0) parts.push(this.timelineSection('Run events', runTimeline, 'run-timeline'));
    this.root.replaceChildren(...parts);
  }

  show(test, runTimeline = []) {
    this.testId = test ? test.id : null;
    if (!test) {
      this.shownId = null;
      this.showEmpty(runTimeline);
      return;
    }
    // Re-rendering a running test must not jump the reader back to the top; another test
    // opens at its top (its name and failure in view).
    const scrollTop = this.shownId === test.id ? this.root.scrollTop : 0;
    this.shownId = test.id;
    const parts = [
      this.header(test),
      ...this.extraSections.flatMap((sections) => sections(test)),
      this.steps(test),
      ...attemptsSection(test, (attempt) => [this.failure(attempt), this.subtests(attempt), this.sections(attempt)]),
      this.timeline(test),
    ];
    this.root.replaceChildren(...parts.filter((part) => part !== null));
    this.root.scrollTop = scrollTop;
  }

  header(test) {
    const facts = [];
    if (test.duration !== null) facts.push(formatDuration(test.duration));
    if (test.worker) facts.push(`worker ${test.worker}`);
    if (test.startedAt) facts.push(`started ${formatTime(test.startedAt)}`);
    if (test.estimate !== null) facts.push(`estimated ${formatDuration(test.estimate)}`);
    if (test.reruns > 0) facts.push(`${test.reruns} rerun${test.reruns === 1 ? '' : 's'}`);
    if (test.warnings > 0) facts.push(`${test.warnings} warning${test.warnings === 1 ? '' : 's'}`);
    return el('header', { className: 'detail-header' },
      el('div', { className: 'detail-title' },
        el('span', { className: `badge status-${test.status}`, 'data-testid': 'detail-status', text: test.status }),
        isFlaky(test) ? el('span', { className: 'badge status-flaky', 'data-testid': 'flaky-badge', text: 'flaky' }) : null,
        el('h2', { 'data-testid': 'detail-name', text: test.name })),
      el('div', { className: 'detail-id', text: test.id }),
      el('div', { className: 'detail-facts', text: facts.join(' · ') }),
      test.markers.length > 0
        ? el('div', { className: 'markers' }, ...test.markers.map((m) => el('span', { className: 'marker', text: m })))
        : null,
      test.summary && test.status !== 'passed'
        ? ansiElement('div', 'detail-summary', test.summary)
        : null);
  }

  steps(test) {
    if (test.steps.length === 0) return null;
    const bar = el('div', { className: 'progress small' }, el('div', { className: `progress-fill status-${test.status}` }));
    bar.firstChild.style.width = `${Math.min(100, Math.max(0, test.progress))}%`;
    return el('section', { className: 'detail-section' },
      el('h3', { text: 'Steps' }),
      bar,
      el('ol', { className: 'steps' },
        ...test.steps.map((step) => el('li', { className: 'step' },
          el('span', { className: `dot status-${this.stepStatus(test, step)}` }),
          el('span', { text: step.step_name }),
          el('span', { className: 'step-time', text: formatTime(step.timestamp) })))));
  }

  stepStatus(test, step) {
    if (step.status === 'passed' || step.status === 'failed') return step.status;
    // A phase step only says it began; the test's phases tell how it went, and a phase
    // that a later phase followed is over.
    if (test.phases && test.phases[step.step_name]) return test.phases[step.step_name];
    if (test.status !== 'running') return 'passed';
    const phaseIndex = PHASES.indexOf(step.step_name);
    const later = test.steps.some((other) => PHASES.indexOf(other.step_name) > phaseIndex);
    return phaseIndex !== -1 && later ? 'passed' : 'running';
  }

  failure(test) {
    if (!test.longrepr) return null;
    return el('section', { className: 'detail-section' },
      el('div', { className: 'section-head' },
        el('h3', { text: test.collectionError ? 'Collection error' : 'Failure' }),
        failureTools(this.root, test, test.longrepr)),
      tracebackElement(test.longrepr));
  }

  subtests(test) {
    if (test.subtests.length === 0) return null;
    return el('section', { className: 'detail-section' },
      el('h3', { text: 'Subtests' }),
      el('ul', { className: 'subtests' },
        ...test.subtests.map((sub) => el('li', {},
          el('span', { className: `badge status-${sub.result}`, text: sub.result }),
          el('span', { text: sub.description }),
          el('span', { className: 'step-time', text: formatDuration(sub.duration) }),
          sub.longrepr ? tracebackElement(sub.longrepr, null) : null))));
  }

  sections(test) {
    if (test.sections.length === 0) return null;
    return el('section', { className: 'detail-section' },
      el('h3', { text: 'Captured output' }),
      ...test.sections.map((section) => el('details', { className: 'output', open: true },
        el('summary', { text: section.name }),
        outputElement(section.content))));
  }

  timeline(test) {
    if (test.timeline.length === 0) return null;
    return this.timelineSection('Timeline', test.timeline, 'timeline');
  }

  timelineSection(title, events, testid) {
    return el('section', { className: 'detail-section' },
      el('h3', { text: title }),
      el('ol', { className: 'timeline', 'data-testid': testid },
        ...events.map((event) => el('li', { className: `timeline-item type-${event.type}`, dataset: { type: event.type } },
          el('span', { className: 'step-time', text: formatTime(event.timestamp) }),
          el('span', { className: 'timeline-kind', text: TIMELINE_LABELS[event.type] ?? event.type }),
          ansiElement('span', 'timeline-text', describeTimelineEvent(event)),
          event.type === 'screenshot_captured' && event.screenshot_url
            ? showImage(el('img', { className: 'screenshot', alt: `screenshot ${event.screenshot_id ?? ''}`, loading: 'lazy' }), screenshotSource(event.screenshot_url))
            : null,
          // A failed attempt that was run again: its traceback, folded.
          event.type === 'test_completed' && event.longrepr
            ? el('details', { className: 'output attempt' }, el('summary', { text: 'traceback' }), tracebackElement(event.longrepr, null))
            : null))));
  }
}
