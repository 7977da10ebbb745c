// Stacks: what a running test is doing right now (the Stack button), and the stacks a
// stall alert carries (`test_stalled`). Both are shown in the test's detail.
//
// A `stack_request` goes out on the live socket; the `stack` answer (or an `error` naming
// the request) comes back like any other message, not an event: no seq, not in the log.

import { el, formatDuration, formatTime } from './dom.js';
import { EVENT } from './protocol.js';
import { editorHref } from './failures.js';

// Frames of the test runner itself, shown dimmed: the test's own frames stand out.
const RUNNER_FILE = /[\\/](_pytest|pluggy|xdist|execnet|pytest_jbrealtime)[\\/]|[\\/]site-packages[\\/]|[\\/]lib[\\/]python3\.\d+[\\/]/;

export function isRunnerFrame(frame) {
  return RUNNER_FILE.test(frame.file ?? '');
}

/** `path:line` of a frame, as editors and terminals take it. */
export function frameLocation(frame) {
  return `${frame.file ?? '?'}:${frame.line ?? '?'}`;
}

/** Is this message the answer to a stack request (a stack, or the error refusing one)? */
export function isStackAnswer(message) {
  return message.type === 'stack' || (message.type === 'error' && message.request === 'stack_request');
}

export class StackPanel {
  constructor(send, rerender, onLiveStall = () => {}) {
    this.send = send;
    this.rerender = rerender; // (testId) => re-render the detail if it shows that test
    this.onLiveStall = onLiveStall; // (event) => tell the user (a toast), for live alerts
    // test id -> {state: 'asking'|'answered'|'refused', answer, askedAt}
    this.answers = new Map();
  }

  clear() {
    this.answers.clear();
  }

  ask(testId) {
    this.answers.set(testId, { state: 'asking', answer: null, askedAt: Date.now() });
    this.send({ type: 'stack_request', test_id: testId });
    this.rerender(testId);
  }

  applyEvents(messages) {
    for (const message of messages) {
      if (message.type === 'reset') {
        this.clear();
      } else if (message.type === EVENT.TEST_STALLED && typeof message.test_id === 'string') {
        this.onLiveStall(message); // the store keeps it (test.stalled); the detail follows
      } else if (isStackAnswer(message) && typeof message.test_id === 'string') {
        const state = message.type === 'stack' ? 'answered' : 'refused';
        const asked = this.answers.get(message.test_id);
        this.answers.set(message.test_id, { state, answer: message, askedAt: asked ? asked.askedAt : null });
        this.rerender(message.test_id);
      }
    }
  }

  /** The detail's sections for `test`: the stall alert, the Stack button and its answer. */
  sections(test) {
    return [this.interruptedSection(test), this.stalledSection(test), this.stackSection(test)];
  }

  interruptedSection(test) {
    const event = test.interrupted;
    if (!event) return null;
    return el('section', { className: 'detail-section stalled', 'data-testid': 'interrupted-section' },
      el('h3', {},
        el('span', { className: 'badge status-stalled', text: 'interrupted' }),
        el('span', { text: ` the run ended here: ${event.reason ?? ''}` })),
      // No stack from its end (SIGKILL …), and which one is shown instead, if any.
      event.stack_note ? el('div', { className: 'stack-status', 'data-testid': 'interrupted-note', text: event.stack_note }) : null,
      this.threads(event.threads ?? [], 'interrupted-stack'));
  }

  stalledSection(test) {
    const event = test.stalled;
    if (!event) return null;
    const facts = `running for ${formatDuration(event.running_for)}, past ${formatDuration(event.threshold)}`
      + (event.worker && event.worker !== 'main' ? ` on ${event.worker}` : '')
      + (test.status === 'running' ? '' : ` (then ${test.status})`);
    return el('section', { className: 'detail-section stalled', 'data-testid': 'stalled-section' },
      el('h3', {},
        el('span', { className: 'badge status-stalled', 'data-testid': 'stalled-mark', text: 'stalled' }),
        el('span', { text: ` ${facts}` })),
      event.stack_error ? el('div', { className: 'stack-status', text: `No stack: ${event.stack_error}` }) : null,
      this.threads(event.threads ?? [], 'stalled-stack'));
  }

  stackSection(test) {
    const entry = this.answers.get(test.id);
    const running = test.status === 'running';
    if (!running && !entry) return null;
    const button = running
      ? el('button', { type: 'button', className: 'stack-button', 'data-testid': 'stack-button',
        title: 'Show the Python stacks of the process running this test, now',
        text: entry && entry.state !== 'asking' ? 'Stack again' : 'Stack' })
      : null;
    if (button) {
      button.disabled = Boolean(entry && entry.state === 'asking');
      button.addEventListener('click', () => this.ask(test.id));
    }
    let status = 'Ask the test’s process what it is doing right now.';
    let body = null;
    if (entry && entry.state === 'asking') status = 'Asking…';
    else if (entry && entry.state === 'refused') status = `No stack: ${entry.answer.message ?? entry.answer.reason}`;
    else if (entry && entry.state === 'answered') {
      const answer = entry.answer;
      status = `Taken ${formatTime(answer.taken_at)}${answer.worker && answer.worker !== 'main' ? ` on ${answer.worker}` : ''}`
        + (answer.shard ? ` (${answer.shard})` : '');
      body = this.threads(answer.threads ?? [], 'stack');
    }
    return el('section', { className: 'detail-section stack-section', 'data-testid': 'stack-section' },
      el('h3', {}, el('span', { text: 'Stack ' }), button),
      el('div', { className: 'stack-status', 'data-testid': 'stack-status', dataset: { state: entry ? entry.state : 'none' }, text: status }),
      body);
  }

  /** `path:line`, a link to the user's editor when the run has one (--jb-live-editor). */
  location(frame) {
    const href = typeof frame.line === 'number' && frame.file ? editorHref(frame.file, frame.line) : null;
    return href
      ? el('a', { className: 'stack-location editor-link', href, 'data-testid': 'editor-link', title: `Open ${frameLocation(frame)} in your editor`, text: frameLocation(frame) })
      : el('span', { className: 'stack-location', text: frameLocation(frame) });
  }

  threads(threads, testid) {
    return el('div', { className: 'stack-threads', 'data-testid': testid },
      ...threads.map((thread) => el('details', { className: 'stack-thread', open: Boolean(thread.current), dataset: { current: String(Boolean(thread.current)) } },
        el('summary', { text: `${thread.name}${thread.current ? ' — running the test' : ''} (${(thread.frames ?? []).length} frames)` }),
        thread.omitted_frames ? el('div', { className: 'hint', text: `… ${thread.omitted_frames} outer frames left out` }) : null,
        el('ol', { className: 'stack-frames' },
          ...(thread.frames ?? []).map((frame) => el('li', { className: isRunnerFrame(frame) ? 'stack-frame runner' : 'stack-frame', 'data-testid': 'stack-frame' },
            el('span', { className: 'stack-function', text: frame.function ?? '?' }),
            this.location(frame),
            frame.code ? el('code', { className: 'stack-code', text: frame.code }) : null))))));
  }
}

/**
 * Put stacks into a LiveView's detail (views.js calls `mountStacks(this)`): the panel is
 * fed every batch, and adds its sections to the detail of the test shown.
 */
export function mountStacks(view) {
  const panel = new StackPanel(
    (message) => view.send(message),
    (testId) => {
      if (view.detail.testId === testId) view.showDetail(view.store.tests.get(testId) ?? null);
    },
    (event) => {
      // Only alerts that happen while the page watches: a backlog or a recording is history.
      if (event.seq > view.liveStore.liveAfterSeq) {
        const test = view.liveStore.tests.get(event.test_id);
        view.toast('alert', `Stalled: ${test ? test.name : event.test_id}`, event.test_id,
          `running for ${formatDuration(event.running_for)} (threshold ${formatDuration(event.threshold)})`);
      }
    });
  view.addPanel(panel);
  view.detail.extraSections.push((test) => panel.sections(test));
  view.stacks = panel;
  return panel;
}
