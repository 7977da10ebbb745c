// RunStore: the state of one run, derived from protocol events (docs/protocol.md). No DOM.
//
// Events are applied in batches; the store records what changed since the views last looked
// (takeChanges), so a frame re-renders only what an event touched.

import { EVENT, WORKER_TYPES, isFailureResult, splitNodeId } from './protocol.js';
import { Tally, categoriesOf, chipCounts } from './counting.js';

// `crashed`: the test's xdist worker died under it. pytest counts it as failed, and so does the
// `failed` count shown (counting.js); `crashed` says how many of those crashed.
export const STATUS_ORDER = ['passed', 'failed', 'crashed', 'error', 'skipped', 'xfailed', 'xpassed', 'running', 'queued'];

// Types whose events are kept on their test's timeline (docs/protocol.md, other parts' types);
// the same types without a test_id go on the run's timeline. Worker life events
// (WORKER_TYPES) are kept per worker, and on the run's timeline.
export const TIMELINE_TYPES = new Set([
  EVENT.BROWSER_ACTION, EVENT.PAGE_LOADED, EVENT.SCREENSHOT_CAPTURED, EVENT.LOG_RECORD, EVENT.CUSTOM,
  EVENT.WARNING, EVENT.WORKER_CRASHED, EVENT.PYTEST_WARNING,
]);

export function isFailure(status) {
  return isFailureResult(status);
}

export function emptyCounts() {
  const counts = {};
  for (const status of STATUS_ORDER) counts[status] = 0;
  return counts;
}

export class RunStore {
  constructor() {
    // These outlive a reset: they describe the connection, not the run's events.
    this.viewers = null;
    this.resets = 0;
    // Events with seq above this were published after we connected ("live"); the rest is
    // backlog, which is shown but not announced with toasts. No hello (a recording): no live.
    this.liveAfterSeq = Infinity;
    this.clear();
  }

  /** Forget the run (a `reset` from the server: a full replay follows). */
  clear() {
    this.run = null; // the session_started event
    this.finished = null; // the session_finished event
    this.tests = new Map(); // test_id -> test record
    this.order = []; // test records in collection order
    this.counts = emptyCounts();
    this.running = new Set();
    this.failureOrder = []; // failed/error tests in the order they failed
    this.system = null; // latest system_status event
    this.runTimeline = []; // events of the run's own: warnings, workers, custom events outside a test
    this.warningCount = 0; // warning events, of tests and of the run
    this.pytestWarnings = []; // pytest_warning events: what pytest's "N warnings" counts
    this.tally = new Tally(); // what completed tests count for (counting.js)
    this.lastTimestamp = null; // of the last event applied: the run's clock in a recording
    this.lastSeq = 0;
    this.eventCount = 0;
    // Any seq that is not lastSeq + 1: the server promises a gap-free log, tests assert this stays 0.
    this.seqErrors = 0;
    // Sums for the ETA: estimated seconds of finished tests, and of all estimates seen.
    this.estimateDone = 0;
    this.estimateSum = 0;
    this.estimateCount = 0;
    // test_completed.history verdicts (history.js): how many of each, and whether any test
    // had earlier results at all (a first run has none).
    this.verdicts = {};
    this.anyHistory = false;
    this.resetChanges();
    this.structureChanged = true;
  }

  resetChanges() {
    this.changedTests = new Set();
    this.structureChanged = false;
    this.runChanged = false;
    this.liveFailures = [];
    this.liveAlerts = [];
    this.liveWarnings = [];
    this.liveCrashes = [];
    this.finishedLive = false;
  }

  /** What changed since the last call, for the views. */
  takeChanges() {
    const changes = {
      tests: this.changedTests,
      structure: this.structureChanged,
      run: this.runChanged,
      liveFailures: this.liveFailures,
      liveAlerts: this.liveAlerts,
      liveWarnings: this.liveWarnings,
      liveCrashes: this.liveCrashes,
      finishedLive: this.finishedLive,
    };
    this.resetChanges();
    return changes;
  }

  applyEvents(messages) {
    for (const message of messages) this.applyEvent(message);
  }

  applyEvent(message) {
    if (typeof message.seq !== 'number') {
      this.applyControl(message);
      return;
    }
    if (message.seq !== this.lastSeq + 1) this.seqErrors += 1;
    this.lastSeq = message.seq;
    this.lastTimestamp = message.timestamp;
    this.eventCount += 1;
    this.runChanged = true;
    switch (message.type) {
      case 'session_started':
        this.run = message;
        break;
      case 'collection_finished':
      case EVENT.COLLECTION_PART: // the rest of a big collection, in order (protocol.md)
        this.applyCollection(message);
        break;
      case 'test_started':
        this.applyStarted(message);
        break;
      case 'test_progress':
        this.applyProgress(message);
        break;
      case 'test_completed':
        this.applyCompleted(message);
        break;
      case 'test_stalled':
      case 'test_interrupted': {
        // Its latest alert, or the stack the run ended on (stack.js shows them).
        const test = this.tests.get(message.test_id);
        if (test) {
          test[message.type === 'test_stalled' ? 'stalled' : 'interrupted'] = message;
          this.changedTests.add(test.id);
        }
        break;
      }
      case 'session_finished':
        this.finished = message;
        for (const test of this.running) this.setStatus(test, 'queued');
        if (message.seq > this.liveAfterSeq) this.finishedLive = true;
        break;
      case 'system_status':
        this.system = message;
        break;
      case 'resource_alert':
        if (message.seq > this.liveAfterSeq) this.liveAlerts.push(message);
        break;
      default:
        // A crash seen live is announced (a toast); the lanes (lanes.js) keep each worker's state.
        if (message.type === EVENT.WORKER_CRASHED && message.seq > this.liveAfterSeq) this.liveCrashes.push(message);
        if (message.type === EVENT.PYTEST_WARNING) this.pytestWarnings.push(message);
        if (message.type === 'warning') {
          this.warningCount += 1;
          if (message.seq > this.liveAfterSeq) this.liveWarnings.push(message);
        }
        if (TIMELINE_TYPES.has(message.type) && message.test_id) {
          const test = this.testFor(message.test_id);
          test.timeline.push(message);
          if (message.type === 'warning') test.warnings += 1;
          this.changedTests.add(test.id);
        } else if (TIMELINE_TYPES.has(message.type) || WORKER_TYPES.has(message.type)) {
          this.runTimeline.push(message);
        }
    }
  }

  applyControl(message) {
    switch (message.type) {
      case 'hello':
        this.liveAfterSeq = message.log_length;
        break;
      case 'reset':
        this.resets += 1;
        this.clear();
        break;
      case 'viewers':
        this.viewers = message.count;
        this.runChanged = true;
        break;
      default:
        break; // pong and error need no state
    }
  }

  applyCollection(event) {
    for (const entry of event.tests) {
      if (this.tests.has(entry.test_id)) continue;
      this.addTest(entry.test_id, entry.file, entry.cls ?? null, entry.name, entry.markers ?? []);
    }
    for (const error of event.errors ?? []) {
      const test = this.testFor(error.test_id);
      test.collectionError = true;
      test.longrepr = error.longrepr;
      test.summary = 'collection error';
      this.tally.uncount(test);
      test.categories = ['error'];
      this.setStatus(test, 'error');
      this.tally.count(test);
      this.noteFailure(test, event);
    }
  }

  applyStarted(event) {
    const test = this.testFor(event.test_id);
    test.worker = event.worker;
    test.startedAt = event.timestamp;
    test.startedMs = null; // parsed lazily: only running tests need it
    if (test.estimate === null && typeof event.estimated_duration === 'number') {
      test.estimate = event.estimated_duration;
      this.estimateSum += test.estimate;
      this.estimateCount += 1;
    }
    test.steps = [];
    test.progress = 0;
    this.setStatus(test, 'running');
  }

  applyProgress(event) {
    const test = this.testFor(event.test_id);
    // Steps are the progress events themselves (step_index, step_name, status, timestamp):
    // a finished run replays tens of thousands of them, so no copies.
    const steps = test.steps;
    // A user step's end repeats its index and name: it replaces the step's start.
    const start = event.status === 'running'
      ? -1
      : steps.findLastIndex((s) => s.step_index === event.step_index && s.step_name === event.step_name);
    if (start === -1) steps.push(event);
    else steps[start] = event;
    if (typeof event.progress_percentage === 'number') test.progress = event.progress_percentage;
    this.changedTests.add(test.id);
  }

  applyCompleted(event) {
    const test = this.testFor(event.test_id);
    test.duration = event.duration;
    test.summary = event.summary ?? null;
    test.longrepr = event.longrepr ?? null;
    test.sections = event.sections ?? [];
    test.phases = event.phases ?? null;
    test.subtests = event.subtests ?? [];
    if (event.result === 'rerun') {
      // pytest-rerunfailures runs it again at once; keep it shown as running until the last
      // attempt, with each attempt that failed on its timeline.
      test.reruns += 1;
      test.attempts.push(event);
      this.tally.add('rerun', 1);
      test.timeline.push(event);
      this.changedTests.add(test.id);
      return;
    }
    if (test.estimate !== null) this.estimateDone += test.estimate;
    test.history = event.history ?? null;
    if (test.history) {
      this.verdicts[test.history.verdict] = (this.verdicts[test.history.verdict] ?? 0) + 1;
      if (test.history.recent.length > 0) this.anyHistory = true;
    }
    test.progress = 100;
    this.tally.uncount(test);
    test.categories = categoriesOf(event);
    this.setStatus(test, event.result in this.counts ? event.result : 'error');
    this.tally.count(test);
    if (isFailure(test.status)) this.noteFailure(test, event);
  }

  noteFailure(test, event) {
    this.failureOrder.push(test);
    if (event.seq > this.liveAfterSeq) this.liveFailures.push(test);
  }

  testFor(testId) {
    const known = this.tests.get(testId);
    if (known) return known;
    const { file, cls, name } = splitNodeId(testId);
    return this.addTest(testId, file, cls, name, []);
  }

  addTest(id, file, cls, name, markers) {
    const test = {
      id,
      file,
      cls,
      name,
      markers,
      status: 'queued',
      worker: null,
      startedAt: null,
      startedMs: null,
      estimate: null,
      duration: null,
      progress: 0,
      steps: [],
      summary: null,
      longrepr: null,
      sections: [],
      phases: null,
      subtests: [],
      timeline: [],
      reruns: 0,
      history: null, // test_completed.history: verdict and earlier results
      attempts: [], // the test_completed of each attempt that was run again (rerun)
      categories: null, // what pytest counts for it once completed (counting.js)
      counted: null, // what the tally has counted for it
      warnings: 0,
      stalled: null, // the latest test_stalled event
      interrupted: null, // its test_interrupted event
      collectionError: false,
      searchText: null, // the lower-cased id, made on the first search
    };
    this.tests.set(id, test);
    this.order.push(test);
    this.counts.queued += 1;
    this.structureChanged = true;
    return test;
  }

  setStatus(test, status) {
    if (test.status === status) return;
    this.counts[test.status] -= 1;
    this.counts[status] += 1;
    if (test.status === 'running') this.running.delete(test);
    if (status === 'running') this.running.add(test);
    test.status = status;
    this.changedTests.add(test.id);
  }

  /** Counts to show, as pytest's summary counts them (counting.js). */
  displayCounts() {
    return chipCounts(this);
  }

  /** Seconds since the session started (its duration once finished), or null before it starts. */
  elapsedSeconds(nowMs) {
    if (this.finished && typeof this.finished.duration === 'number') return this.finished.duration;
    if (!this.run) return null;
    if (this.run.startMs === undefined) this.run.startMs = Date.parse(this.run.start_time ?? this.run.timestamp);
    return Math.max(0, (nowMs - this.run.startMs) / 1000);
  }

  /**
   * Seconds until the run should end, or null when unknown.
   *
   * Estimated durations (from earlier runs) say how much work is left; the ratio of wall time
   * to estimated work done so far turns that into time, which accounts for parallel workers
   * and per-test overhead. Without estimates, the completion rate so far is used.
   */
  etaSeconds(nowMs) {
    if (this.finished || !this.run) return null;
    const elapsed = this.elapsedSeconds(nowMs);
    const done = this.order.length - this.counts.queued - this.counts.running;
    const left = this.counts.queued + this.counts.running;
    if (left === 0) return 0;
    if (this.estimateCount > 0) {
      const meanEstimate = this.estimateSum / this.estimateCount;
      let remaining = this.counts.queued * meanEstimate;
      let runningDone = 0;
      for (const test of this.running) {
        if (test.startedMs === null) test.startedMs = Date.parse(test.startedAt);
        const estimate = test.estimate ?? meanEstimate;
        const ranFor = Math.max(0, (nowMs - test.startedMs) / 1000);
        remaining += Math.max(0, estimate - ranFor);
        runningDone += Math.min(estimate, ranFor);
      }
      const workDone = this.estimateDone + runningDone;
      // Too little work done yet for a meaningful ratio: trust the estimates as they are.
      const ratio = workDone > 0.5 ? Math.min(Math.max(elapsed / workDone, 0.05), 20) : 1;
      return remaining * ratio;
    }
    if (done === 0) return null;
    return (left * elapsed) / done;
  }
}
