// The triage modules' pure parts under `node --test` (run by tests/test_viewer_js.py):
// causes and their groups, ANSI parsing, traceback lines, editor links, counting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseCause, causeOf, groupByCause, lineKind, editorHref, absolutePath } from '../../viewer/failures.js';
import { stripAnsi, ansiRuns, hasAnsi } from '../../viewer/ansi.js';
import { Tally, categoriesOf, matchesStatus, chipCounts, countsText, groupCountsText, titleText } from '../../viewer/counting.js';
import { nextFailure, groupWarnings } from '../../viewer/triage.js';
import { RunStore, isFailure } from '../../viewer/store.js';

test('causes: varying parts are made alike', () => {
  const same = [
    'AssertionError: payload mismatch for api 17',
    'AssertionError: payload mismatch for api 23',
    'AssertionError: payload mismatch for api 1024',
  ].map(normaliseCause);
  assert.deepEqual(new Set(same).size, 1);
  assert.equal(same[0], 'AssertionError: payload mismatch for api N');
  assert.equal(normaliseCause('ValueError: bad object at 0x7f3a2b1c4d50'), 'ValueError: bad object at 0x…');
  assert.equal(normaliseCause("KeyError: 'user-1234'"), "KeyError: '…'");
  assert.equal(normaliseCause('RuntimeError: job 3f2a9c1e77b04d1e failed'), 'RuntimeError: job <id> failed');
  assert.equal(normaliseCause('RuntimeError: run 123e4567-e89b-12d3-a456-426614174000 gone'), 'RuntimeError: run <id> gone');
  assert.equal(normaliseCause('OSError: /tmp/pytest-of-me/pytest-3/test_x0/data.json missing'), 'OSError: <tmp> missing');
  assert.equal(normaliseCause('OSError: /var/folders/ab/T/x.txt missing'), 'OSError: <tmp> missing');
  assert.equal(normaliseCause('\x1b[31mred\x1b[0m Error: took 1.5e3 ms'), 'red Error: took N ms');
  // Digits inside names stay: they say which exception.
  assert.equal(normaliseCause('Http404Error: not found'), 'Http404Error: not found');
  assert.ok(normaliseCause('x'.repeat(1000)).length <= 241);
});

test('a failure without a summary is known by its last E line', () => {
  const test = { status: 'failed', summary: null, longrepr: 'def t():\n>   f()\nE   KeyError: 42\n\nx.py:3: KeyError' };
  assert.equal(causeOf(test), 'KeyError: N');
  assert.equal(causeOf({ status: 'error', summary: null, longrepr: null }), 'error (no message)');
});

test('groups: biggest first, tests in order', () => {
  const tests = [
    { id: 'a', status: 'failed', summary: 'TimeoutError: 1' },
    { id: 'b', status: 'failed', summary: 'AssertionError: x 1' },
    { id: 'c', status: 'error', summary: 'AssertionError: x 2' },
  ];
  const groups = groupByCause(tests);
  assert.deepEqual(groups.map((g) => [g.cause, g.tests.map((t) => t.id)]), [
    ['AssertionError: x N', ['b', 'c']],
    ['TimeoutError: N', ['a']],
  ]);
});

test('ANSI: colours parsed, every escape gone', () => {
  assert.equal(stripAnsi('a\x1b[32mGREEN\x1b[0m b \x1b]0;title\x07c \x1b[2Kd\x1b'), 'aGREEN b c d');
  assert.equal(stripAnsi('\x9b31mx'), 'x');
  assert.ok(hasAnsi('\x1b[0m') && !hasAnsi('plain'));
  const { runs, style } = ansiRuns('x\x1b[1;31mred\x1b[38;5;200mpink\x1b[38;2;1;2;3mrgb\x1b[0m');
  assert.deepEqual(runs.map((r) => [r.text, r.style.fg, r.style.bold]), [
    ['x', null, false], ['red', 1, true], ['pink', 'rgb(255, 0, 215)', true], ['rgb', 'rgb(1, 2, 3)', true],
  ]);
  assert.equal(style.fg, null);
  // The style carries across lines (a traceback is rendered line by line).
  const first = ansiRuns('\x1b[33mstart');
  assert.equal(ansiRuns('next', first.style).runs[0].style.fg, 3);
});

test('traceback lines: E, diff, current', () => {
  assert.equal(lineKind('E       assert 1 == 2'), 'tb-error');
  assert.equal(lineKind("E         - {'b': 20}"), 'tb-error tb-diff tb-diff-minus');
  assert.equal(lineKind("E         + {'b': 2}"), 'tb-error tb-diff tb-diff-plus');
  assert.equal(lineKind('E         ?        -'), 'tb-error tb-diff tb-diff-hint');
  assert.equal(lineKind('>       assert x'), 'tb-current');
  assert.equal(lineKind('test_x.py:12: AssertionError'), 'tb-location');
  assert.equal(lineKind('    x = -1'), '');
  assert.equal(lineKind('Error: something'), '');
});

test('editor links: off by default, presets, safe schemes only', () => {
  assert.equal(editorHref('t.py', 3, { template: null, baseDir: '/src' }), null);
  assert.equal(editorHref('tests/t.py', 3, { template: 'vscode://file/{path}:{line}', baseDir: '/src/p' }),
    'vscode://file/src/p/tests/t.py:3');
  assert.equal(editorHref('C:\\w\\t.py', 3, { template: 'vscode://file/{path}:{line}', baseDir: '' }),
    'vscode://file/C:/w/t.py:3');
  assert.equal(editorHref('/abs/t.py', 9, { template: 'pycharm://open?file={path}&line={line}', baseDir: '/x' }),
    'pycharm://open?file=/abs/t.py&line=9');
  assert.equal(editorHref('a b.py', 1, { template: 'https://e.example/o?f={path}&l={line}', baseDir: '/r' }),
    'https://e.example/o?f=/r/a%20b.py&l=1');
  assert.equal(editorHref('a.py', 1, { template: 'https://e.example/open/{path}#{line}', baseDir: '/r' }),
    'https://e.example/open/r/a.py#1');
  assert.equal(editorHref('t.py', 1, { template: 'javascript:alert({line})//{path}', baseDir: '/' }), null);
  assert.equal(absolutePath('../lib/x.py', '/src/p/tests'), '/src/p/lib/x.py');
  assert.equal(absolutePath('C:\\w\\x.py', ''), 'C:/w/x.py');
});

function storeWith(events) {
  const store = new RunStore();
  let seq = 0;
  store.applyEvents(events.map((e) => ({ seq: ++seq, timestamp: '2026-01-01T00:00:00Z', ...e })));
  return store;
}

test('counting: pytest categories, subtests and flaky apart, chips add up', () => {
  const store = storeWith([
    { type: 'collection_finished', tests: ['a', 'b', 'c', 'd', 'e'].map((n) => ({ test_id: `t.py::${n}`, file: 't.py', name: n })) },
    { type: 'test_completed', test_id: 't.py::a', result: 'failed', categories: ['failed', 'error'] },
    { type: 'test_completed', test_id: 't.py::b', result: 'rerun', categories: ['rerun'] },
    { type: 'test_completed', test_id: 't.py::b', result: 'passed', categories: ['passed'] },
    { type: 'test_completed', test_id: 't.py::c', result: 'failed', categories: ['failed'],
      subtests: [{ result: 'passed' }, { result: 'failed' }] },
    { type: 'test_completed', test_id: 't.py::d', result: 'error' }, // an old recording: no categories
    { type: 'pytest_warning', test_id: 't.py::a', category: 'UserWarning', message: 'm', filename: 't.py', lineno: 1 },
  ]);
  const counts = chipCounts(store);
  assert.equal(counts.passed, 1);
  assert.equal(counts.failed, 2);
  assert.equal(counts.error, 2);
  assert.equal(counts.queued, 1);
  assert.equal(counts.total, 1 + 2 + 2 + 1);
  assert.equal(counts.flaky, 1);
  assert.equal(counts.rerun, 1);
  assert.equal(counts['subtests passed'], 1);
  assert.equal(counts['subtests failed'], 1);
  assert.equal(counts.warnings, 1);
  const a = store.tests.get('t.py::a');
  assert.ok(matchesStatus(a, 'failed', isFailure) && matchesStatus(a, 'error', isFailure));
  assert.ok(matchesStatus(store.tests.get('t.py::b'), 'flaky', isFailure));
  assert.equal(groupCountsText(store.order), '2 failed, 2 errors');
  assert.equal(countsText(counts), '1 passed, 2 failed, 2 errors');
  assert.match(titleText(counts, false), /^▶ ✖ 1 passed, 2 failed, 2 errors/);
  // Completed again (a hub's resumed shard): counted once.
  store.applyEvent({ seq: 99, type: 'test_completed', test_id: 't.py::a', result: 'passed', categories: ['passed'] });
  assert.equal(chipCounts(store).passed, 2);
  assert.equal(chipCounts(store).error, 1);
  assert.deepEqual(categoriesOf({ result: 'crashed' }), ['failed']);
  assert.deepEqual(categoriesOf({ result: 'rerun' }), ['rerun']);
  assert.ok(new Tally().counts.flaky === 0);
});

test('n / p walk the failures in list order, wrapping', () => {
  const order = [
    { id: 'a', status: 'passed', categories: ['passed'] },
    { id: 'b', status: 'failed', categories: ['failed'] },
    { id: 'c', status: 'error', categories: ['error'] },
  ];
  assert.equal(nextFailure(order, null, 1).id, 'b');
  assert.equal(nextFailure(order, 'b', 1).id, 'c');
  assert.equal(nextFailure(order, 'c', 1).id, 'b');
  assert.equal(nextFailure(order, 'b', -1).id, 'c');
  assert.equal(nextFailure(order.slice(0, 1), null, 1), null);
});

test('warnings grouped by category, message and place', () => {
  const groups = groupWarnings([
    { category: 'UserWarning', message: 'm', filename: 'a.py', lineno: 1, test_id: 't::x' },
    { category: 'UserWarning', message: 'm', filename: 'a.py', lineno: 1, test_id: 't::y' },
    { category: 'DeprecationWarning', message: 'd', filename: 'a.py', lineno: 2, test_id: null },
  ]);
  assert.deepEqual(groups.map((g) => [g.category, g.count, [...g.tests]]), [
    ['UserWarning', 2, ['t::x', 't::y']],
    ['DeprecationWarning', 1, []],
  ]);
});
