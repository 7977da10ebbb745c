// LiveView: the page. Queues incoming messages, applies them to the store once per animation
// frame and re-renders only what changed. Keeps every event, so that a recording or a
// finished run can be shown as it was after any of them (the timeline scrubber).

import { el, setText, formatClock, formatTime } from './dom.js';
import { CLOSE } from './protocol.js';
import { RunStore, STATUS_ORDER, isFailure } from './store.js';
import { TestList, FILTER_ALL, ROW_HEIGHT, testMatches } from './list.js';
import { DetailPanel } from './detail.js';
import { mountMonitor } from './monitor.js';
import { mountLanes } from './lanes.js';
import { TimelineScrubber } from './scrubber.js';
import { stripAnsi } from './ansi.js';
import { countsText } from './counting.js';
import { setEditorContext } from './failures.js';
import { mountTriage } from './triage.js';
import { parseSearch, SORT_ORDERS } from './search.js';
import { markMatches } from './highlight.js';
import { mountKeys } from './keys.js';
import { StickyGroup } from './sticky.js';
import { Announcer } from './announce.js';
import { mountRunTitle } from './runtitle.js';
import { mountTheme } from './theme.js';
import { mountUrlState } from './urlstate.js';
import { mountTimeline } from './timeline.js';
import { mountSlowest, mountPanelFold } from './slowest.js';
import { mountHistory } from './history.js';
import { mountStacks } from './stack.js';
import { mountResources } from './resources.js';

// Toasts sit in a strip under the top bar, over nothing: a few, briefly. Failures are not
// toasted at all; the failure counter in the header announces them (triage.js).
// While catching up with the log (a late joiner), the page renders at most this often at
// first, and each time half as often again, up to CATCH_UP_RENDER_MAX_MS between renders.
// Every render there draws what is not the end (the list's groups and rows, the panels),
// at 100,000 tests 0.1-0.2 s each: a third of a late joiner's time went to ~7 of them
// (docs/benchmarks.md).
export const CATCH_UP_RENDER_MS = 500;
export const CATCH_UP_RENDER_MAX_MS = 2000;
export const TOAST_LIMIT = 2;
export const TOAST_MS = 8000;

export const CONNECTION_TEXT = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
  recording: 'Recording',
};

export const FAILURE_WORDS = { failed: 'Failed', error: 'Error', crashed: 'Crashed' };

export function byId(id) {
  return document.getElementById(id);
}

/** How many of `events` (sorted by seq) have a seq of at most `seq`. */
export function countUpTo(events, seq) {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (events[middle].seq <= seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

export class LiveView {
  constructor(store) {
    // The run as received, and the store shown: the same one, or while the timeline is
    // scrubbed back, one rebuilt from the events up to that point.
    this.liveStore = store;
    this.store = store;
    // Every event applied to liveStore, in seq order (since the last reset).
    this.history = [];
    // The last batch applied: its last seq and when (Date.now()), for lag measurements.
    this.applied = { seq: 0, at: null, count: 0 };
    this.pending = [];
    this.scheduled = false;
    // Joining a run late (or coming back after a drop), the page catches up with the
    // log's length as the server's hello gave it: until then it renders at most every
    // catchUpPause() and feeds the panels in one batch then, instead of at every
    // animation frame (a finished 50,000-test run took 7 s to show; most of it went
    // to renders and panel draws of states nobody saw: docs/benchmarks.md).
    this.catchUpTo = 0;
    this.catchUpRenders = 0; // renders while behind the log, since it was last caught up
    this.panelBacklog = [];
    this.renderedAt = 0;
    this.deferredRender = null;
    this.statusFilter = FILTER_ALL;
    this.queryText = ''; // the search box's text; `query` is what search.js made of it
    this.query = parseSearch('');
    this.sortBy = 'order';
    this.filterDirty = true;
    this.connection = { state: 'connecting', retryAt: null };
    this.onReconnectNow = () => {};
    this.showKeyForm = () => {}; // main.js: the key form (keyform.js), live pages only
    // Messages to the server (stack requests); main.js connects it to the live client.
    this.send = () => {};
    // Parts of the page fed the same batches as the store: {applyEvents(messages), clear()}.
    this.panels = [];

    this.announcer = new Announcer(byId('announcer'));
    this.list = new TestList(byId('test-list'), {
      onSelect: (id) => this.select(id),
      onToggleGroup: (key, folded) => this.groupToggled(key, folded),
      onOpen: (id) => this.openTest(id),
      onCursor: (row) => this.announcer.say(`${row.label}, ${row.tests.length} tests, ${this.list.collapsed.has(row.key) ? 'folded' : 'unfolded'}`),
    });
    new StickyGroup(this.list, ROW_HEIGHT);
    this.detail = new DetailPanel(byId('test-detail'));
    this.countNodes = this.buildCounts();
    this.historyCounts = mountHistory(this, byId('counts'));
    this.bindControls();
    // Each hides itself until its events come: system_status samples, events from xdist workers.
    mountMonitor(this, byId('panels'));
    mountLanes(this, byId('panels'));
    mountSlowest(this, byId('panels'));
    mountTimeline(this, byId('panels'));
    mountPanelFold(byId('panels'));
    mountStacks(this);
    mountResources(this, byId('panels'));
    this.scrubber = new TimelineScrubber(byId('scrubber'), (seq) => this.showAt(seq));
    this.triage = mountTriage(this);
    mountRunTitle(this);
    mountTheme();
    mountKeys(this);
    mountUrlState(this);
    setInterval(() => this.tick(), 1000);
  }

  /** Queue messages from the client (or a recording); they are applied at the next frame. */
  enqueue(message) {
    this.pending.push(message);
    this.schedule();
  }

  enqueueAll(messages) {
    for (const message of messages) this.pending.push(message);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    // Hidden tabs get no animation frames; a timer keeps failures (and notifications) prompt there.
    if (document.hidden) setTimeout(() => this.flush(), 100);
    else requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.scheduled = false;
    const messages = this.pending;
    this.pending = [];
    const scrubbed = this.isScrubbed();
    let reset = false;
    for (const message of messages) {
      if (typeof message.seq === 'number') this.history.push(message);
      else if (message.type === 'reset') {
        this.history = [];
        reset = true;
      } else if (message.type === 'hello' && typeof message.log_length === 'number') {
        this.catchUpTo = message.log_length;
      }
    }
    this.liveStore.applyEvents(messages);
    if (messages.length > 0) this.applied = { seq: this.liveStore.lastSeq, at: Date.now(), count: this.applied.count + messages.length };
    if (!scrubbed) {
      for (const message of messages) this.panelBacklog.push(message);
      const pause = this.catchUpPause();
      if (this.liveStore.lastSeq < this.catchUpTo && performance.now() - this.renderedAt < pause) {
        // Behind the log: render later (a viewer in few groups may never reach its end).
        if (this.deferredRender === null) {
          this.deferredRender = setTimeout(() => this.renderDeferred(), pause);
        }
        return;
      }
      this.feedPanels();
    } else if (reset) {
      this.showLatest(); // the run shown is gone: follow the replay that comes
      return;
    } else {
      this.renderScrubber(); // what arrived is shown once the user comes back to the end
    }
    this.render();
  }

  isScrubbed() {
    return this.store !== this.liveStore;
  }

  /** Milliseconds between renders while catching up: longer the longer it takes. */
  catchUpPause() {
    return Math.min(CATCH_UP_RENDER_MS * 2 ** this.catchUpRenders, CATCH_UP_RENDER_MAX_MS);
  }

  /** The panels get what arrived since they last did, in one batch. */
  feedPanels() {
    const backlog = this.panelBacklog;
    this.panelBacklog = [];
    if (backlog.length > 0) for (const panel of this.panels) panel.applyEvents(backlog);
  }

  renderDeferred() {
    this.deferredRender = null;
    if (this.isScrubbed()) return;
    this.feedPanels();
    this.render();
  }

  /** A recording, or a run that has finished: the timeline can be scrubbed. */
  canScrub() {
    return this.connection.state === 'recording' || this.liveStore.finished !== null;
  }

  /**
   * Show the run as it was once event `seq` was applied: a fresh store fed the events up to
   * there (or, going forward from a point already shown, fed just the ones in between).
   */
  showAt(seq) {
    if (!this.canScrub() || seq >= this.liveStore.lastSeq) {
      this.showLatest();
      return;
    }
    const end = countUpTo(this.history, seq);
    let store = this.isScrubbed() && this.store.lastSeq <= seq ? this.store : null;
    let start = 0;
    if (store) {
      start = countUpTo(this.history, store.lastSeq);
    } else {
      store = new RunStore();
      this.panelBacklog = []; // (in the history the panels are fed from here)
      for (const panel of this.panels) panel.clear();
    }
    const events = this.history.slice(start, end);
    store.applyEvents(events);
    for (const panel of this.panels) panel.applyEvents(events);
    this.store = store;
    this.renderAll();
  }

  /** Back to the run as received. */
  showLatest() {
    if (!this.isScrubbed()) return;
    this.store = this.liveStore;
    this.panelBacklog = [];
    for (const panel of this.panels) {
      panel.clear();
      panel.applyEvents(this.history);
    }
    this.renderAll();
  }

  /** Everything on the page from this.store, after it was swapped. */
  renderAll() {
    this.store.takeChanges(); // a rebuilt store's history is not news: no toasts
    this.filterDirty = true;
    this.rebuildList();
    const selected = this.detail.testId;
    this.showDetail(selected === null ? null : this.store.tests.get(selected) ?? null);
    this.renderRun();
    this.triage.render();
    document.documentElement.dataset.shownSeq = String(this.store.lastSeq);
  }

  renderScrubber() {
    const history = this.history;
    const run = this.store.run;
    this.scrubber.update({
      available: this.canScrub() && history.length > 0,
      first: history.length > 0 ? history[0].seq : 0,
      latest: this.liveStore.lastSeq,
      shown: this.store.lastSeq,
      shownAt: this.store.lastTimestamp,
      startAt: run ? run.start_time ?? run.timestamp : null,
    });
  }

  /** Now, for elapsed time and ETA: a recording's or a past moment's clock stops at its last event. */
  clockMs() {
    if ((this.isScrubbed() || this.connection.state === 'recording') && this.store.lastTimestamp) {
      return Date.parse(this.store.lastTimestamp);
    }
    return Date.now();
  }

  /** Feed a part of the page (monitor.js, lanes.js) every batch the store gets. */
  addPanel(panel) {
    this.panels.push(panel);
  }

  render() {
    this.renderedAt = performance.now();
    this.catchUpRenders = this.liveStore.lastSeq < this.catchUpTo ? this.catchUpRenders + 1 : 0;
    if (this.deferredRender !== null) {
      clearTimeout(this.deferredRender);
      this.deferredRender = null;
    }
    const changes = this.store.takeChanges();
    // A filter, a search or a sort by duration may take a changed test in or out, or move it.
    const narrowed = this.statusFilter !== FILTER_ALL || !this.query.empty || this.sortBy === 'duration';
    if (changes.structure || this.filterDirty || (narrowed && changes.tests.size > 0)) {
      this.rebuildList();
    } else if (changes.tests.size > 0) {
      this.list.render();
    }
    if (this.detail.testId !== null && changes.tests.has(this.detail.testId)) {
      this.showDetail(this.store.tests.get(this.detail.testId));
    } else if (this.detail.testId === null && this.detail.runEvents !== this.store.runTimeline.length) {
      this.showDetail(null);
    }
    if (this.urlState) this.urlState.trySelect();
    if (changes.run || changes.tests.size > 0) this.renderRun();
    this.notifyFailures(changes.liveFailures);
    this.triage.render(changes);
    this.announcer.failures(changes.liveFailures);
    for (const alert of changes.liveAlerts) this.toast('alert', `${alert.severity}: ${alert.message}`);
    for (const warning of changes.liveWarnings) {
      this.toast('warning', `Warning${warning.source ? ` (${warning.source})` : ''}`, warning.test_id ?? null, warning.message);
    }
    // A crash in a test gets that test's own `crashed` toast; this is for one between tests.
    for (const crash of changes.liveCrashes) {
      if (!crash.test_id) this.toast('failure', `Worker ${crash.worker} crashed`, null, crash.error ?? null);
    }
    if (changes.finishedLive) this.notifyFinished();
    document.documentElement.dataset.lastSeq = String(this.liveStore.lastSeq);
    document.documentElement.dataset.shownSeq = String(this.store.lastSeq);
  }

  rebuildList() {
    this.filterDirty = false;
    this.list.store = this.store; // the row badges ask it whether the run has history
    this.list.build(this.store.order, this.statusFilter, this.query, this.sortBy);
    setText(byId('visible-count'), this.list.matchCount);
  }

  buildCounts() {
    const nodes = {};
    const container = byId('counts');
    for (const status of [...STATUS_ORDER, 'total']) {
      const value = el('span', { className: 'count-value', 'data-testid': `count-${status}`, text: '0' });
      const chip = el('button', { type: 'button', className: `count status-${status}`, title: `Show ${status} tests` },
        el('span', { className: 'dot' }), value, el('span', { className: 'count-label', text: status }));
      chip.addEventListener('click', () => this.setFilter(status === 'total' ? FILTER_ALL : status));
      nodes[status] = { chip, value };
      container.append(chip);
    }
    return nodes;
  }

  bindControls() {
    const select = byId('filter-status');
    select.addEventListener('change', () => this.setFilter(select.value));
    const search = byId('search');
    search.addEventListener('input', () => this.setQuery(search.value, { fromBox: true }));
    const sort = byId('sort-by');
    sort.addEventListener('change', () => this.setSort(sort.value));
    byId('detail-back').addEventListener('click', () => this.closeDetailScreen());
    window.addEventListener('popstate', () => {
      if (!history.state?.jbDetail) this.closeDetailScreen({ fromHistory: true });
    });
    byId('fold-all').addEventListener('click', () => this.list.foldAll(true));
    byId('unfold-all').addEventListener('click', () => this.list.foldAll(false));
    byId('jump-first-failure').addEventListener('click', () => this.jumpToFirstFailure());
    // The warnings that belong to no test are on the run's timeline, shown with no test selected.
    byId('warnings-fact').addEventListener('click', () => this.select(null));
    byId('reconnect-now').addEventListener('click', () => this.onReconnectNow());
    // Closed for another tab of the same user (4009): coming back to this tab means it is
    // the one wanted, so it takes a connection again (resuming where it was).
    document.addEventListener('visibilitychange', () => {
      const { state, closeCode } = this.connection;
      if (!document.hidden && state === 'disconnected' && closeCode === CLOSE.REPLACED) this.onReconnectNow();
    });
    this.bindNotifications();
  }

  setFilter(status) {
    this.statusFilter = status;
    byId('filter-status').value = status;
    this.filterDirty = true;
    this.schedule();
    this.stateChanged();
  }

  /** The search box's text (search.js parses it); matches are highlighted. */
  setQuery(text, { fromBox = false } = {}) {
    this.queryText = String(text ?? '').trim();
    this.query = parseSearch(this.queryText);
    const box = byId('search');
    if (!fromBox && box.value.trim() !== this.queryText) box.value = this.queryText;
    box.classList.toggle('has-errors', this.query.errors.length > 0);
    box.title = this.query.errors.length > 0 ? `Not understood: ${this.query.errors.join(' ')}` : '';
    this.filterDirty = true;
    this.schedule();
    if (this.detail.testId !== null) this.showDetail(this.store.tests.get(this.detail.testId) ?? null);
    this.stateChanged();
  }

  /** `order` (grouped by file and class), `name` or `duration` (one flat list). */
  setSort(by) {
    this.sortBy = SORT_ORDERS.includes(by) ? by : 'order';
    byId('sort-by').value = this.sortBy;
    document.documentElement.dataset.sort = this.sortBy;
    this.filterDirty = true;
    this.schedule();
    this.stateChanged();
  }

  /** Something the address keeps changed (urlstate.js). */
  stateChanged() {
    if (this.urlState) this.urlState.changed();
  }

  showDetail(test) {
    this.detail.show(test, this.store.runTimeline);
    markMatches(this.detail.root, '[data-testid="detail-name"], [data-testid="traceback"], .detail-summary, .output pre', this.query.words);
  }

  select(testId, { announce = true } = {}) {
    const test = testId === null ? null : this.store.tests.get(testId) ?? null;
    this.list.select(testId);
    this.showDetail(test);
    this.triage.markSelected();
    if (announce && test) this.announcer.say(`Selected ${test.name}, ${test.status}`);
    this.stateChanged();
  }

  /**
   * A click or Enter on a test: its detail, in its own screen on a phone (style.css,
   * `detail-open`). The keyboard's Enter moves the focus there; a click on a wide screen
   * leaves it in the list for ↑ / ↓.
   */
  openTest(testId, { click = false } = {}) {
    this.select(testId);
    const narrow = window.matchMedia('(max-width: 700px)').matches;
    // On a phone the detail is a screen: one step in the history, so the phone's own back
    // button returns to the list instead of leaving the page (popstate, bindControls).
    if (narrow && !document.body.classList.contains('detail-open')) {
      history.pushState({ ...history.state, jbDetail: true }, '', location.href);
    }
    document.body.classList.add('detail-open');
    // A phone's page scrolls as a whole: the test opens at its top, not where the list was.
    if (narrow) window.scrollTo(0, 0);
    if (!click || narrow) byId('test-detail').focus({ preventScroll: true });
  }

  /** Back from the detail to the list (*Back to the list*, Esc, a phone's back button). */
  closeDetailScreen({ fromHistory = false } = {}) {
    if (!document.body.classList.contains('detail-open')) return;
    // The detail screen's history step is taken back; its popstate closes the screen.
    if (!fromHistory && history.state?.jbDetail) {
      history.back();
      return;
    }
    document.body.classList.remove('detail-open');
    byId('test-list').focus({ preventScroll: true });
  }

  groupToggled(key, folded) {
    this.rebuildList();
    const what = key === null ? 'All groups' : key;
    this.announcer.say(`${what} ${folded ? 'folded' : 'unfolded'}`);
  }

  /** Select the first failed or errored test in list order, clearing a filter that hides it. */
  jumpToFirstFailure() {
    const first = this.store.order.find((test) => isFailure(test.status));
    if (!first) return;
    if (!testMatches(first, this.statusFilter, this.query)) {
      this.setFilter(FILTER_ALL);
      this.setQuery('');
    }
    this.list.reveal(first);
    this.rebuildList();
    this.select(first.id);
    byId('test-list').focus({ preventScroll: true });
  }

  renderRun() {
    const store = this.store;
    const counts = store.displayCounts();
    for (const [status, { chip, value }] of Object.entries(this.countNodes)) {
      setText(value, counts[status]);
      chip.classList.toggle('zero', counts[status] === 0);
    }
    // Crashes happen only under xdist, and are part of `failed`: their chip only when there are some.
    this.countNodes.crashed.chip.hidden = counts.crashed === 0;
    this.historyCounts.render(store);
    byId('warnings-fact').hidden = store.warningCount === 0;
    setText(byId('warnings'), store.warningCount);
    const run = store.run;
    if (run) {
      setEditorContext(run);
      setText(byId('start-time'), formatTime(run.start_time ?? run.timestamp));
    }
    // The title is runtitle.js's (every shard's session_started).
    const status = byId('run-status');
    const state = store.finished ? 'finished' : run ? 'running' : 'waiting';
    setText(status, state);
    status.dataset.state = state;
    status.dataset.exitStatus = store.finished ? String(store.finished.exit_status) : '';
    status.classList.toggle('failed', Boolean(store.finished && store.finished.exit_status !== 0));
    this.renderProgress(counts);
    byId('jump-first-failure').disabled = store.failureOrder.length === 0;
    setText(byId('viewer-count'), this.liveStore.viewers === null ? '' : `${this.liveStore.viewers} watching`);
    const system = store.system;
    byId('system-fact').hidden = !system;
    if (system) setText(byId('system'), `CPU ${Math.round(system.cpu_usage)}% · memory ${Math.round(system.memory_usage)}%`);
    this.renderRunning();
    this.renderScrubber();
    this.tick();
  }

  renderProgress(counts) {
    const total = counts.total || 1;
    const done = counts.total - counts.queued - counts.running;
    const [passed, failed, other, running] = byId('progress').children;
    passed.style.width = `${(100 * counts.passed) / total}%`;
    failed.style.width = `${(100 * (counts.failed + counts.error)) / total}%`;
    // Counts may come from pytest's summary (a test can be both failed and error): clamp the rest.
    const rest = Math.max(0, done - counts.passed - counts.failed - counts.error);
    other.style.width = `${(100 * rest) / total}%`;
    running.style.width = `${(100 * counts.running) / total}%`;
    byId('progress').setAttribute('aria-valuenow', String(Math.round((100 * done) / total)));
  }

  renderRunning() {
    const running = [...this.store.running];
    const node = byId('running-now');
    if (running.length === 0) {
      setText(node, '');
      return;
    }
    const names = running.slice(0, 3).map((test) => test.name).join(', ');
    setText(node, `Running: ${names}${running.length > 3 ? ` +${running.length - 3}` : ''}`);
  }

  /** Once a second: elapsed time, ETA, reconnect countdown. */
  tick() {
    const now = this.clockMs();
    const elapsed = this.store.elapsedSeconds(now);
    setText(byId('elapsed'), elapsed === null ? '–' : formatClock(elapsed));
    const eta = this.store.etaSeconds(now);
    setText(byId('eta'), this.store.finished ? 'done' : eta === null ? '–' : formatClock(eta));
    this.renderConnection();
  }

  setConnection(connection) {
    this.connection = connection;
    // A report (a recording) hides what only makes sense live: notifications, connection.
    document.body.classList.toggle('is-report', connection.state === 'recording');
    this.renderConnection();
    this.renderScrubber();
  }

  renderConnection() {
    const { state, retryAt, closeCode } = this.connection;
    const node = byId('connection-state');
    node.dataset.state = state;
    let text = CONNECTION_TEXT[state] ?? state;
    if (state === 'reconnecting' && retryAt !== null) {
      text = `Reconnecting in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s`;
    } else if (state === 'disconnected' && closeCode === CLOSE.BAD_TOKEN) {
      text = 'Disconnected: no key, or the key has expired or is not this run\'s';
    } else if (state === 'disconnected' && closeCode === 1000 && this.liveStore.finished) {
      text = 'Run complete';
    } else if (state === 'disconnected' && closeCode === CLOSE.REPLACED) {
      text = 'Paused: this link is open in too many other tabs';
    }
    setText(byId('connection-text'), text);
    this.showKeyForm(state === 'disconnected' && closeCode === CLOSE.BAD_TOKEN);
    const button = byId('reconnect-now');
    button.hidden = state !== 'reconnecting' && !(state === 'disconnected' && closeCode === CLOSE.REPLACED);
    setText(button, state === 'reconnecting' ? 'Retry now' : 'Reconnect');
  }

  notifyFailures(failures) {
    if (failures.length === 0) return;
    const first = failures[0];
    const errors = failures.filter((test) => test.status === 'error').length;
    this.browserNotify(
      failures.length === 1
        ? `${FAILURE_WORDS[first.status] ?? 'Failed'}: ${first.name}`
        : countsText({ failed: failures.length - errors, error: errors }, ['failed', 'error']),
      stripAnsi(first.summary ?? first.id),
    );
  }

  notifyFinished() {
    const counts = this.store.displayCounts();
    const finished = this.store.finished;
    // A hub ends a run whose shards went away without finishing as 'interrupted'.
    const how = finished.status === 'interrupted' ? `Run interrupted (${finished.reason})` : 'Run finished';
    const text = `${how}: ${countsText(counts) || 'no tests'} (exit ${finished.exit_status})`;
    // It goes away by itself: the header (run status, counts, title) keeps saying how it ended.
    this.toast(finished.exit_status === 0 ? 'success' : 'finished', text);
    this.announcer.say(text);
    this.browserNotify('pytest run finished', text);
  }

  toast(kind, text, testId = null, detail = null) {
    const container = byId('toasts');
    const close = el('button', { type: 'button', className: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
    const node = el('div', { className: `toast toast-${kind}`, 'data-testid': 'toast', dataset: { kind }, role: kind === 'alert' || kind === 'warning' ? 'status' : null },
      el('div', { className: 'toast-body' },
        el('div', { className: 'toast-text', text }),
        detail ? el('div', { className: 'toast-detail', text: stripAnsi(detail) }) : null),
      close);
    if (testId !== null) {
      node.classList.add('clickable');
      node.addEventListener('click', (event) => {
        if (event.target === close) return;
        this.revealAndSelect(testId);
      });
    }
    close.addEventListener('click', () => node.remove());
    container.append(node);
    while (container.children.length > TOAST_LIMIT) container.firstChild.remove();
    setTimeout(() => node.remove(), TOAST_MS);
  }

  revealAndSelect(testId, { announce = true } = {}) {
    const test = this.store.tests.get(testId);
    if (!test) return;
    if (!testMatches(test, this.statusFilter, this.query)) {
      this.setFilter(FILTER_ALL);
      if (!testMatches(test, FILTER_ALL, this.query)) this.setQuery('');
    }
    this.list.reveal(test);
    this.rebuildList();
    this.select(testId, { announce });
  }

  bindNotifications() {
    const button = byId('notify-button');
    if (!('Notification' in window) || Notification.permission !== 'default') return;
    // Asking needs a user gesture and must never happen on load: offer a button instead.
    button.hidden = false;
    button.addEventListener('click', async () => {
      await Notification.requestPermission();
      button.hidden = Notification.permission === 'default';
    });
  }

  browserNotify(title, body) {
    // Someone looking at the page has the toast; the notification is for other tabs and windows.
    if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
    new Notification(title, { body, tag: 'pytest-jbrealtime' });
  }
}
