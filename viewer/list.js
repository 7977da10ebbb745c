// TestList: the test list, grouped by file and class, virtualised.
//
// Only the rows in (or near) the viewport exist in the DOM: a fixed pool of row elements is
// positioned over a spacer as tall as the whole list, so 20,000 tests cost what 40 do.

import { el, setText, formatDuration } from './dom.js';
import { isFailure } from './store.js';
import { matchesStatus, groupCountsText, isFlaky } from './counting.js';
import { parseSearch, matchesSearch, sortTests } from './search.js';
import { markText } from './highlight.js';
import { listKey } from './keys.js';
import { matchesHistoryFilter, fillBadge } from './history.js';

export const ROW_HEIGHT = 28;
export const OVERSCAN_ROWS = 8;

// Status filter values beyond the single statuses.
export const FILTER_FAILURES = 'failures';
export const FILTER_ALL = 'all';

/** `query`: the search box's text, or parseSearch's result for it (search.js). */
export function testMatches(test, statusFilter, query) {
  const byHistory = matchesHistoryFilter(statusFilter, test); // null: not history's filter
  if (byHistory === false) return false;
  // A chip's filter shows the tests its count counts (counting.js): `failed` includes
  // crashed tests, as pytest's does; a test that failed and errored in teardown is in both.
  if (byHistory === null && !matchesStatus(test, statusFilter, isFailure)) return false;
  return matchesSearch(test, typeof query === 'string' ? parseSearch(query) : query);
}

/** The worst status among a group's tests, for the group header's dot. */
export function groupStatus(tests) {
  let running = false;
  let queued = false;
  for (const test of tests) {
    if (isFailure(test.status)) return 'failed';
    if (test.status === 'running') running = true;
    else if (test.status === 'queued') queued = true;
  }
  if (running) return 'running';
  return queued ? 'queued' : 'passed';
}

/**
 * The list's rows in collection order: a file's header, its class headers, its tests, for
 * the tests `wanted` takes (folded groups: their header only), and how many it took.
 */
export function groupedRows(tests, wanted, collapsed) {
  const files = new Map();
  let matches = 0;
  for (const test of tests) {
    if (!wanted(test)) continue;
    matches += 1;
    let classes = files.get(test.file);
    if (!classes) {
      classes = new Map();
      files.set(test.file, classes);
    }
    const clsKey = test.cls ?? '';
    let group = classes.get(clsKey);
    if (!group) {
      group = [];
      classes.set(clsKey, group);
    }
    group.push(test);
  }
  const rows = [];
  for (const [file, classes] of files) {
    // Not push(...group): a call takes some 125,000 arguments at most, and one file of
    // a very large run holds more tests (the page stopped there).
    const groups = [...classes.values()];
    rows.push({ kind: 'file', key: file, label: file, tests: groups.length === 1 ? groups[0] : groups.flat() });
    if (collapsed.has(file)) continue;
    for (const [cls, group] of classes) {
      let depth = 1;
      if (cls !== '') {
        const key = `${file}::${cls}`;
        rows.push({ kind: 'class', key, label: cls, tests: group });
        if (collapsed.has(key)) continue;
        depth = 2;
      }
      for (const test of group) rows.push({ kind: 'test', key: test.id, test, depth });
    }
  }
  return { rows, matches };
}

export class TestList {
  /**
   * @param {HTMLElement} viewport  the scrolling element
   * @param {{onSelect: (testId: string) => void, onToggleGroup: () => void}} callbacks
   *   onToggleGroup runs after a group header is clicked: the owner rebuilds the rows.
   */
  constructor(viewport, { onSelect, onToggleGroup, onOpen = null, onCursor = null }) {
    this.viewport = viewport;
    this.onSelect = onSelect;
    this.onToggleGroup = onToggleGroup;
    this.onOpen = onOpen; // Enter on a test (keys.js)
    this.onCursor = onCursor; // the keyboard moved onto a header
    this.onRender = null; // (first row index on screen) => void: the sticky header (sticky.js)
    this.spacer = el('div', { className: 'list-spacer' });
    this.viewport.append(this.spacer);
    this.pool = [];
    this.rows = []; // {kind: 'file'|'class'|'test', key, label, tests?, test?}
    this.collapsed = new Set();
    this.selectedId = null;
    this.matchCount = 0;
    this.words = []; // the search's plain words, highlighted in the labels
    // The row the keyboard is on (a test id or a group key); tests follow the selection.
    this.cursorKey = null;
    this.viewport.addEventListener('scroll', () => this.render(), { passive: true });
    this.viewport.addEventListener('click', (event) => this.handleClick(event));
    this.viewport.addEventListener('keydown', (event) => this.handleKey(event));
    new ResizeObserver(() => this.render()).observe(this.viewport);
  }

  /**
   * Rebuild the flat row list from the tests in collection order, grouped by file and
   * class; sorted by name or duration (search.js) it is one flat list of whole node ids.
   */
  build(tests, statusFilter, query, sortBy = 'order') {
    this.allTests = tests;
    const parsed = typeof query === 'string' ? parseSearch(query) : query;
    this.words = parsed.words;
    if (sortBy !== 'order') {
      const matching = tests.filter((test) => testMatches(test, statusFilter, parsed));
      this.setRows(sortTests(matching, sortBy).map((test) => ({ kind: 'test', key: test.id, test, depth: 0 })), matching.length);
      return;
    }
    const { rows, matches } = groupedRows(tests, (test) => testMatches(test, statusFilter, parsed), this.collapsed);
    this.setRows(rows, matches);
  }

  setRows(rows, matches) {
    this.rows = rows;
    this.matchCount = matches;
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.render();
  }

  render() {
    const height = this.viewport.clientHeight;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN_ROWS);
    const last = Math.min(this.rows.length, Math.ceil((this.viewport.scrollTop + height) / ROW_HEIGHT) + OVERSCAN_ROWS);
    const needed = last - first;
    while (this.pool.length < needed) this.pool.push(this.createRow());
    let active = null;
    for (let i = 0; i < this.pool.length; i += 1) {
      const node = this.pool[i];
      if (i < needed) {
        this.fillRow(node, this.rows[first + i], first + i);
        if (this.rows[first + i].key === this.cursorKey) active = node.id;
      } else {
        node.hidden = true;
      }
    }
    // The row the keyboard is on, for screen readers (the list keeps the focus).
    if (active) this.viewport.setAttribute('aria-activedescendant', active);
    else this.viewport.removeAttribute('aria-activedescendant');
    if (this.onRender) this.onRender(Math.floor(this.viewport.scrollTop / ROW_HEIGHT));
  }

  createRow() {
    const node = el(
      'div',
      { className: 'row', role: 'option' },
      el('span', { className: 'twisty', 'aria-hidden': 'true' }),
      el('span', { className: 'dot', 'aria-hidden': 'true' }),
      el('span', { className: 'row-label' }),
      el('span', { className: 'row-badge', 'data-testid': 'row-badge', hidden: true }),
      el('span', { className: 'row-meta' }),
      el('span', { className: 'visually-hidden row-status' }),
    );
    node.id = `test-row-${this.pool.length}`;
    this.spacer.append(node);
    return node;
  }

  fillRow(node, row, index) {
    node.hidden = false;
    node.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    const [twisty, dot, label, badge, meta, spoken] = node.children;
    node.classList.toggle('cursor', row.key === this.cursorKey);
    if (row.kind === 'test') {
      const test = row.test;
      node.className = `row row-test depth-${row.depth}${test.id === this.selectedId ? ' selected' : ''}${row.key === this.cursorKey ? ' cursor' : ''}${test.stalled ? ' stalled' : ''}`;
      node.dataset.testid = 'test-row';
      node.dataset.testId = test.id;
      node.dataset.status = test.status;
      node.title = test.id;
      node.setAttribute('aria-selected', String(test.id === this.selectedId));
      delete node.dataset.group;
      setText(twisty, '');
      markText(label, row.depth === 0 ? test.id : test.name, this.words);
      const flaky = isFlaky(test);
      node.classList.toggle('flaky', flaky);
      setText(meta, test.status === 'running' ? (test.stalled ? 'stalled' : 'running') : `${flaky ? 'flaky · ' : ''}${formatDuration(test.duration)}`);
      fillBadge(badge, test, this.store ?? { anyHistory: true });
      // The dot is colour only: its status in words, for screen readers.
      setText(spoken, `, ${test.status}`);
      dot.className = `dot status-${test.status}`;
      return;
    }
    const collapsed = this.collapsed.has(row.key);
    node.className = `row row-${row.kind}${row.key === this.cursorKey ? ' cursor' : ''}`;
    node.dataset.testid = 'group-row';
    node.dataset.group = row.key;
    node.title = row.key;
    node.setAttribute('aria-selected', 'false');
    delete node.dataset.testId;
    delete node.dataset.status;
    setText(twisty, collapsed ? '▸' : '▾');
    badge.hidden = true;
    setText(label, row.label);
    setText(meta, this.groupMeta(row.tests));
    // An option cannot be aria-expanded: the words say it.
    setText(spoken, collapsed ? ', folded' : ', unfolded');
    dot.className = `dot status-${groupStatus(row.tests)}`;
  }

  groupMeta(tests) {
    const problems = groupCountsText(tests); // errors as errors: `1 error`, never `1 failed`
    const count = `${tests.length} test${tests.length === 1 ? '' : 's'}`;
    return problems ? `${problems} · ${count}` : count;
  }

  handleClick(event) {
    const node = event.target.closest('.row');
    if (!node || !this.viewport.contains(node)) return;
    if (node.dataset.testId !== undefined) {
      if (this.onOpen) this.onOpen(node.dataset.testId, { click: true });
      else this.onSelect(node.dataset.testId);
      return;
    }
    this.cursorKey = node.dataset.group;
    this.toggleGroup(node.dataset.group);
  }

  handleKey(event) {
    listKey(this, event); // keys.js: ↑ ↓ Home End Enter ← →
  }

  /** Fold (true), unfold (false) or toggle (undefined) a file or class header. */
  toggleGroup(key, fold = !this.collapsed.has(key)) {
    if (fold) this.collapsed.add(key);
    else this.collapsed.delete(key);
    this.onToggleGroup(key, fold);
  }

  /** Fold every file (true) or unfold everything (false). */
  foldAll(fold) {
    this.collapsed.clear();
    if (fold) for (const test of this.allTests ?? []) this.collapsed.add(test.file);
    this.onToggleGroup(null, fold);
  }

  indexOf(testId) {
    if (testId === null) return -1;
    return this.rows.findIndex((row) => row.kind === 'test' && row.test.id === testId);
  }

  /** Mark a test selected and scroll it into view if it is listed. */
  select(testId) {
    this.selectedId = testId;
    if (testId !== null) this.cursorKey = testId;
    this.scrollToIndex(this.indexOf(testId));
    this.render();
  }

  scrollToIndex(index) {
    if (index === -1) return;
    const top = index * ROW_HEIGHT;
    const bottom = top + ROW_HEIGHT;
    const view = this.viewport;
    // The sticky header covers the first row's place.
    if (top < view.scrollTop + ROW_HEIGHT || bottom > view.scrollTop + view.clientHeight) {
      view.scrollTop = Math.max(0, top - view.clientHeight / 3);
    }
  }

  /** Expand the groups that hold a test, so that it can be shown. */
  reveal(test) {
    this.collapsed.delete(test.file);
    if (test.cls) this.collapsed.delete(`${test.file}::${test.cls}`);
  }
}
