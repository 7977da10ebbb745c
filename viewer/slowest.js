// SlowestTests: what `pytest --durations` prints, live: the slowest tests and the slowest
// files (their tests' durations added up), each a click away (a test selects it; a file
// narrows the list to it with `file:`). A panel of the LiveView (views.js): fed every batch,
// re-fed when the timeline scrubber moves.

import { el, setText, formatDuration } from './dom.js';
import { splitNodeId } from './protocol.js';

export const SLOWEST_TESTS = 10;
export const SLOWEST_FILES = 5;
export const SLOWEST_DRAW_MS = 300;

/** The `limit` slowest of `entries` ({duration}), slowest first; ties keep their order. */
export function slowestOf(entries, limit) {
  const top = [];
  for (const entry of entries) {
    if (top.length === limit && entry.duration <= top[top.length - 1].duration) continue;
    let at = top.length;
    while (at > 0 && top[at - 1].duration < entry.duration) at -= 1;
    top.splice(at, 0, entry);
    if (top.length > limit) top.pop();
  }
  return top;
}

/** Files by their tests' summed durations: [{file, duration, tests}]. */
export function fileDurations(tests) {
  const files = new Map();
  for (const test of tests) {
    const entry = files.get(test.file) ?? { file: test.file, duration: 0, tests: 0 };
    entry.duration += test.duration;
    entry.tests += 1;
    files.set(test.file, entry);
  }
  return [...files.values()];
}

export class SlowestTests {
  constructor({ onSelect, onFile }) {
    this.onSelect = onSelect;
    this.onFile = onFile;
    this.tests = new Map(); // test id -> {id, name, file, duration, result}
    this.timer = null;
    this.testList = el('ol', { className: 'slowest-list', 'aria-label': 'Slowest tests' });
    this.fileList = el('ol', { className: 'slowest-list', 'aria-label': 'Slowest files' });
    this.root = el('section', { className: 'slowest', 'data-testid': 'slowest', 'aria-label': 'Slowest tests and files', hidden: true },
      el('h2', { className: 'lanes-title fact-label', text: 'Slowest tests' }), this.testList,
      el('h2', { className: 'lanes-title fact-label', text: 'Slowest files' }), this.fileList);
    this.root.addEventListener('click', (event) => {
      const button = event.target.closest('button');
      if (!button) return;
      if (button.dataset.testId !== undefined) this.onSelect(button.dataset.testId);
      else if (button.dataset.file !== undefined) this.onFile(button.dataset.file);
    });
  }

  clear() {
    this.tests.clear();
    this.draw();
  }

  applyEvents(messages) {
    let changed = false;
    for (const message of messages) {
      if (message.type === 'reset') {
        this.tests.clear();
        changed = true;
      } else if (message.type === 'test_completed' && typeof message.duration === 'number' && message.result !== 'rerun') {
        const parts = splitNodeId(String(message.test_id)); // `::` may be inside a parameter id
        const file = message.file ?? parts.file;
        const name = parts.name;
        this.tests.set(message.test_id, { id: message.test_id, name, file, duration: message.duration, result: message.result });
        changed = true;
      }
    }
    if (changed && this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.draw();
      }, SLOWEST_DRAW_MS);
    }
  }

  draw() {
    this.root.hidden = this.tests.size === 0;
    const tests = [...this.tests.values()];
    this.fill(this.testList, slowestOf(tests, SLOWEST_TESTS), (entry) => ({
      dataset: { testId: entry.id }, label: entry.id, title: `${entry.id} (${entry.result})`,
    }));
    this.fill(this.fileList, slowestOf(fileDurations(tests), SLOWEST_FILES), (entry) => ({
      dataset: { file: entry.file }, label: `${entry.file} (${entry.tests} test${entry.tests === 1 ? '' : 's'})`,
      title: `Show the tests of ${entry.file}`,
    }));
  }

  fill(list, entries, describe) {
    // Unchanged (a batch that did not move the top): keep the nodes, under a pointer too.
    const signature = entries.map((entry) => `${entry.id ?? entry.file} ${entry.duration} ${entry.tests ?? entry.result}`).join('\n');
    if (list.dataset.signature === signature) return;
    list.dataset.signature = signature;
    const rows = entries.map((entry) => {
      const { dataset, label, title } = describe(entry);
      const button = el('button', { type: 'button', className: 'slowest-row', 'data-testid': dataset.testId !== undefined ? 'slowest-row' : 'slowest-file', title, dataset: { ...dataset, duration: String(entry.duration) } },
        el('span', { className: 'slowest-time', text: formatDuration(entry.duration) }),
        el('span', { className: 'slowest-name', text: label }));
      return el('li', {}, button);
    });
    list.replaceChildren(...rows);
  }
}

export function mountSlowest(view, parent) {
  const slowest = new SlowestTests({
    onSelect: (testId) => view.revealAndSelect(testId),
    onFile: (file) => view.setQuery(`file:${file}`),
  });
  parent.append(slowest.root);
  view.addPanel(slowest);
  view.slowest = slowest;
  return slowest;
}

/**
 * The panels row (monitor, lanes, timeline, slowest) folds to one line with this button: at
 * first on a narrow screen (a phone, 200% zoom), where the list needs the room, and whenever
 * the window becomes one; on a wide one when the user wants the list taller.
 */
export function mountPanelFold(parent) {
  const twisty = el('span', { className: 'twisty', 'aria-hidden': 'true' });
  const button = el('button', { type: 'button', className: 'panels-fold', 'data-testid': 'panels-fold' },
    twisty, el('span', { text: 'System, workers, timeline, slowest' }));
  const show = (folded) => {
    parent.classList.toggle('folded', folded);
    button.setAttribute('aria-expanded', String(!folded));
    setText(twisty, folded ? '▸' : '▾');
  };
  const narrow = window.matchMedia('(max-width: 700px)');
  show(narrow.matches);
  // Zoomed in (or a phone turned) past the line, the page takes the narrow layout's default
  // there and then, as a reload would: folded narrow, unfolded wide.
  narrow.addEventListener('change', () => show(narrow.matches));
  button.addEventListener('click', () => show(!parent.classList.contains('folded')));
  parent.prepend(button);
  return button;
}
