// Triage: from "it's red" to "why". The failure counter in the header (where failures are
// announced, over nothing), the views beside the test list (failures grouped by cause,
// pytest's warnings), the counts kept apart (flaky, reruns, subtests, warnings), the page
// title, and the keys n / p (next / previous failure, from anywhere).

import { el, setText } from './dom.js';
import { isFailure } from './store.js';
import { groupByCause } from './failures.js';
import { newFailuresFirst, verdictBadge } from './history.js';
import { EXTRA_COUNTS, FILTER_FLAKY, countTestId, countsText, titleText, countWord } from './counting.js';

export const TRIAGE_TESTS = 'tests';
export const TRIAGE_FAILURES = 'failures';
export const TRIAGE_WARNINGS = 'warnings';

/** A failed or errored test (by its status, or by what pytest counted for it). */
export function isTriaged(test) {
  if (isFailure(test.status)) return true;
  const categories = test.categories;
  return categories !== null && (categories.includes('failed') || categories.includes('error'));
}

/** The next (step 1) or previous (-1) failure after `currentId` in list order, wrapping. */
export function nextFailure(order, currentId, step) {
  const failures = order.filter(isTriaged);
  if (failures.length === 0) return null;
  const at = failures.findIndex((test) => test.id === currentId);
  if (at === -1) return step > 0 ? failures[0] : failures[failures.length - 1];
  return failures[(at + step + failures.length) % failures.length];
}

/** Warnings with one category, message and place, and the tests they came from. */
export function groupWarnings(events) {
  const groups = new Map();
  for (const event of events) {
    const place = `${event.filename ?? '?'}:${event.lineno ?? '?'}`;
    const key = `${event.category}\u0000${event.message}\u0000${place}`;
    let group = groups.get(key);
    if (!group) {
      group = { category: event.category ?? 'Warning', message: event.message ?? '', place, count: 0, tests: new Set() };
      groups.set(key, group);
    }
    group.count += 1;
    if (event.test_id) group.tests.add(event.test_id);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

function triageTypingIn(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

export class Triage {
  constructor(view) {
    this.view = view;
    this.current = TRIAGE_TESTS;
    this.shownFailures = null; // what the failures / warnings views last drew (render)
    this.shownWarnings = null;
    this.latest = null; // the last failure announced
    this.list = document.getElementById('test-list');
    this.buildHeader();
    this.buildViews();
    this.chips = this.buildChips();
    document.addEventListener('keydown', (event) => this.handleKey(event));
  }

  buildHeader() {
    this.counter = el('button', { type: 'button', className: 'failure-counter', 'data-testid': 'failure-counter', hidden: true, title: 'Failures, grouped by cause (n / p: next / previous failure)' });
    this.feed = el('span', { className: 'failure-feed', 'data-testid': 'failure-feed' });
    // The short form (`✖ 9`) is what a phone's top bar shows (style.css).
    this.counter.append(el('span', { className: 'failure-counter-count' }),
      el('span', { className: 'failure-counter-short', 'aria-hidden': 'true' }), this.feed);
    this.counter.addEventListener('click', () => this.show(TRIAGE_FAILURES));
    // Beside the run's status: on a phone's first line, not a line of its own.
    document.getElementById('run-status').after(this.counter);
  }

  buildViews() {
    this.tabs = el('nav', { className: 'view-tabs', 'aria-label': 'Views' });
    this.tabButtons = {};
    for (const [name, label] of [[TRIAGE_TESTS, 'Tests'], [TRIAGE_FAILURES, 'Failures'], [TRIAGE_WARNINGS, 'Warnings']]) {
      const button = el('button', { type: 'button', className: 'view-tab', 'data-testid': `view-${name}`, dataset: { view: name } },
        el('span', { text: label }), el('span', { className: 'view-tab-count' }));
      button.addEventListener('click', () => this.show(name));
      this.tabButtons[name] = button;
      this.tabs.append(button);
    }
    document.querySelector('.toolbar').prepend(this.tabs);
    this.failuresNode = el('div', { className: 'triage-view', 'data-testid': 'failure-groups', hidden: true, role: 'region', 'aria-label': 'Failures by cause' });
    this.warningsNode = el('div', { className: 'triage-view', 'data-testid': 'warnings-view', hidden: true, role: 'region', 'aria-label': 'Warnings' });
    this.failuresNode.addEventListener('click', (event) => this.handleTestClick(event));
    this.warningsNode.addEventListener('click', (event) => this.handleTestClick(event));
    this.list.before(this.failuresNode, this.warningsNode);
    this.markTabs();
  }

  /** The counts kept apart from the ones that add up to the total (counting.js). */
  buildChips() {
    const container = document.getElementById('counts');
    const nodes = {};
    for (const name of EXTRA_COUNTS) {
      const value = el('span', { className: 'count-value', 'data-testid': countTestId(name), text: '0' });
      const chip = el('button', { type: 'button', className: `count count-apart status-${name.replace(/ /g, '-')}`, hidden: true, title: TRIAGE_CHIP_TITLES[name] },
        el('span', { className: 'dot' }), value, el('span', { className: 'count-label', text: name }));
      chip.addEventListener('click', () => {
        if (name === 'warnings') this.show(TRIAGE_WARNINGS);
        else if (name === 'flaky') this.view.setFilter(FILTER_FLAKY);
      });
      nodes[name] = { chip, value };
      container.append(chip);
    }
    return nodes;
  }

  show(name) {
    this.current = name;
    this.failuresNode.hidden = name !== TRIAGE_FAILURES;
    this.warningsNode.hidden = name !== TRIAGE_WARNINGS;
    this.list.hidden = name !== TRIAGE_TESTS;
    this.markTabs();
    this.render();
    if (name === TRIAGE_TESTS) this.view.list.render();
  }

  markTabs() {
    for (const [name, button] of Object.entries(this.tabButtons)) {
      button.classList.toggle('selected', name === this.current);
      button.setAttribute('aria-pressed', String(name === this.current));
    }
  }

  handleTestClick(event) {
    const link = event.target.closest('[data-test-id]');
    if (!link) return;
    this.view.revealAndSelect(link.dataset.testId);
    // On a phone the detail is a screen of its own (views.js openTest).
    if (this.view.openTest) this.view.openTest(link.dataset.testId, { click: true });
  }

  handleKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || triageTypingIn(event.target)) return;
    if (event.key !== 'n' && event.key !== 'p') return;
    const store = this.view.store;
    const next = nextFailure(store.order, this.view.detail.testId, event.key === 'n' ? 1 : -1);
    if (!next) return;
    event.preventDefault();
    this.view.revealAndSelect(next.id);
    this.markSelected();
  }

  /** After each batch (views.js render) and after the store is swapped (scrubbing). */
  render(changes = null) {
    const store = this.view.store;
    const counts = store.displayCounts();
    for (const [name, { chip, value }] of Object.entries(this.chips)) {
      setText(value, counts[name] ?? 0);
      chip.hidden = !counts[name];
    }
    const bad = counts.failed + counts.error;
    this.counter.hidden = bad === 0;
    setText(this.counter.firstChild, `✖ ${countsText(counts, ['failed', 'error'])}`);
    setText(this.counter.children[1], `✖ ${bad}`);
    if (changes && changes.liveFailures.length > 0) {
      this.latest = changes.liveFailures[changes.liveFailures.length - 1];
      setText(this.feed, `latest: ${this.latest.name}`);
      this.counter.classList.remove('pulse');
      void this.counter.offsetWidth; // restart the animation
      this.counter.classList.add('pulse');
    } else if (bad === 0) {
      setText(this.feed, '');
    }
    setText(this.tabButtons[TRIAGE_FAILURES].lastChild, bad > 0 ? String(bad) : '');
    setText(this.tabButtons[TRIAGE_WARNINGS].lastChild, counts.warnings > 0 ? String(counts.warnings) : '');
    const title = titleText(counts, store.finished !== null);
    if (document.title !== title) document.title = title;
    // Redrawn when the failures change (not on every frame of a run: a focused link would be
    // lost), and always after the store was swapped (scrubbing: changes === null).
    const failureMark = changes === null ? null : `${store.failureOrder.length}:${counts.failed}:${counts.error}`;
    if (this.current === TRIAGE_FAILURES && (failureMark === null || failureMark !== this.shownFailures)) {
      this.renderFailures();
      this.shownFailures = failureMark;
    }
    const warningMark = changes === null ? null : store.pytestWarnings.length;
    if (this.current === TRIAGE_WARNINGS && (warningMark === null || warningMark !== this.shownWarnings)) {
      this.renderWarnings();
      this.shownWarnings = warningMark;
    }
  }

  renderFailures() {
    const tests = this.view.store.order.filter(isTriaged);
    if (tests.length === 0) {
      this.failuresNode.replaceChildren(this.backButton(), el('p', { className: 'triage-empty', text: 'No failures.' }));
      return;
    }
    const groups = newFailuresFirst(groupByCause(tests));
    const head = el('p', { className: 'triage-head', text: `${countWord(tests.length, 'failing test')} · ${countWord(groups.length, 'cause')} · n / p: next / previous failure` });
    this.failuresNode.replaceChildren(this.backButton(), head, ...groups.map((group) => el('section', {
      className: 'failure-group', 'data-testid': 'failure-group',
      dataset: { count: String(group.tests.length), cause: group.cause },
    },
    el('header', { className: 'failure-group-head' },
      el('span', { className: 'failure-group-count', text: `${group.tests.length}×` }),
      el('code', { className: 'failure-group-cause', text: group.cause })),
    el('ul', { className: 'failure-group-tests' },
      ...group.tests.map((test) => el('li', {},
        el('button', { type: 'button', className: 'failure-link', 'data-testid': 'failure-link', dataset: { testId: test.id }, title: test.id },
          el('span', { className: `dot status-${test.status}` }),
          el('span', { className: 'failure-link-name', text: test.id }),
          verdictBadge(test))))))));
    this.markSelected();
  }

  renderWarnings() {
    const events = this.view.store.pytestWarnings;
    if (events.length === 0) {
      this.warningsNode.replaceChildren(this.backButton(), el('p', { className: 'triage-empty', text: 'pytest recorded no warnings.' }));
      return;
    }
    const groups = groupWarnings(events);
    this.warningsNode.replaceChildren(
      this.backButton(),
      el('p', { className: 'triage-head', text: `${countWord(events.length, 'warning')} (pytest's count) · ${countWord(groups.length, 'kind')}` }),
      ...groups.map((group) => el('section', { className: 'warning-group', 'data-testid': 'warning-group', dataset: { count: String(group.count), category: group.category } },
        el('header', { className: 'failure-group-head' },
          el('span', { className: 'failure-group-count', text: `${group.count}×` }),
          el('code', { className: 'warning-category', text: group.category }),
          el('span', { className: 'warning-place', text: group.place })),
        el('div', { className: 'warning-message', text: group.message }),
        group.tests.size > 0
          ? el('ul', { className: 'failure-group-tests' }, ...[...group.tests].map((id) => el('li', {},
            el('button', { type: 'button', className: 'failure-link', dataset: { testId: id }, title: id }, el('span', { className: 'failure-link-name', text: id })))))
          : el('div', { className: 'warning-place', text: 'outside any test' }))));
  }

  /** Back to the list: a phone has no room for the view tabs (style.css), so each view has this. */
  backButton() {
    const button = el('button', { type: 'button', className: 'button triage-back', 'data-testid': 'triage-back', text: '← All tests' });
    button.addEventListener('click', () => this.show(TRIAGE_TESTS));
    return button;
  }

  markSelected() {
    const selected = this.view.detail.testId;
    for (const link of this.failuresNode.querySelectorAll('.failure-link')) {
      link.classList.toggle('selected', link.dataset.testId === selected);
    }
  }
}

const TRIAGE_CHIP_TITLES = {
  flaky: 'Failed, then passed when pytest-rerunfailures ran it again (counted in passed, as pytest does)',
  rerun: 'Attempts pytest-rerunfailures ran again (pytest’s "rerun")',
  'subtests passed': 'Subtests, counted apart from tests',
  'subtests failed': 'Failed subtests, counted apart from tests (pytest 9 adds them to its "failed")',
  'subtests skipped': 'Skipped subtests, counted apart from tests',
  warnings: 'Warnings pytest recorded (its "N warnings"); click for the list',
};

export function mountTriage(view) {
  return new Triage(view);
}
