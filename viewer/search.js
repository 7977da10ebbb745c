// Search: the query language of the search box, and sorting. Pure: no DOM (its imports have
// none either), so `node --test tests/js/` runs it as it is (docs/viewer.md, "Search").
//
//   login timeout            plain words: each must be in the node id, failure text or output
//   "exact phrase"           a quoted phrase is one word
//   status:failed            the test's status as the chips count it (counting.js: failed
//                            includes crashed; `failures` is failed, crashed and error;
//                            `flaky`); status:failed,error
//   marker:slow  file:api/  worker:gw1
//   duration:>1s  duration:<=250ms  duration:>2m
//
// Tokens of different keys must all hold; the same key given twice (or a comma list) is
// any of its values. Words and values are case-insensitive.

import { matchesStatus } from './counting.js';
import { isFailure } from './store.js';

export const SEARCH_KEYS = ['status', 'marker', 'file', 'worker', 'duration'];
export const SORT_ORDERS = ['order', 'name', 'duration'];
const SEARCH_UNITS = { ms: 0.001, s: 1, m: 60, h: 3600 };
const SEARCH_STATUS_ALIASES = {
  failed: ['failed', 'crashed'],
  failures: ['failed', 'crashed', 'error'],
  fail: ['failed', 'crashed'],
  pass: ['passed'],
  skip: ['skipped'],
  errors: ['error'],
};

/** Seconds in `text` such as `1s`, `250ms`, `1.5m`, `2` (seconds); null when not a duration. */
export function parseSeconds(text) {
  const match = /^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?$/i.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * SEARCH_UNITS[(match[2] ?? 's').toLowerCase()];
}

/** `>1s` -> {op: '>', seconds: 1}; null when not a comparison. */
export function parseDurationTerm(text) {
  const match = /^(>=|<=|>|<|=)?(.*)$/.exec(text.trim());
  const seconds = parseSeconds(match[2]);
  if (seconds === null) return null;
  return { op: match[1] ?? '>=', seconds };
}

/** Split the box's text into tokens; a quoted part (even after `key:`) stays one token. */
export function tokenize(text) {
  const tokens = [];
  const pattern = /(\S*?)"([^"]*)"?|\S+/g;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match[2] !== undefined) tokens.push({ text: match[1] + match[2], quoted: true });
    else tokens.push({ text: match[0], quoted: false });
  }
  return tokens;
}

/**
 * The box's text as a query: {words, status, marker, file, worker, duration, errors, empty}.
 * Each key holds the values asked for (lower-cased; duration holds {op, seconds});
 * `errors` lists tokens that look like a key but do not parse (shown, never matched).
 */
export function parseSearch(text) {
  const query = { words: [], status: [], marker: [], file: [], worker: [], duration: [], errors: [] };
  for (const token of tokenize(String(text ?? ''))) {
    const colon = token.text.indexOf(':');
    const key = colon > 0 ? token.text.slice(0, colon).toLowerCase() : '';
    if (!SEARCH_KEYS.includes(key)) {
      if (token.text !== '') query.words.push(token.text.toLowerCase());
      continue;
    }
    const values = token.text.slice(colon + 1).split(',').map((v) => v.trim()).filter(Boolean);
    if (values.length === 0) {
      query.errors.push(token.text);
      continue;
    }
    for (const value of values) {
      if (key === 'duration') {
        const term = parseDurationTerm(value);
        if (term) query.duration.push(term);
        else query.errors.push(token.text);
      } else if (key === 'status') {
        query.status.push(...(SEARCH_STATUS_ALIASES[value.toLowerCase()] ?? [value.toLowerCase()]));
      } else {
        query[key].push(value.toLowerCase());
      }
    }
  }
  query.empty = SEARCH_KEYS.every((key) => query[key].length === 0) && query.words.length === 0;
  return query;
}

/** What plain words are looked for in: the id, the failure and the captured output, lower-cased. */
export function searchHaystack(test) {
  const cache = test.searchCache;
  if (cache && cache.longrepr === test.longrepr && cache.sections === test.sections && cache.summary === test.summary) {
    return cache.text;
  }
  const parts = [test.id];
  if (test.summary) parts.push(test.summary);
  if (test.longrepr) parts.push(test.longrepr);
  for (const section of test.sections ?? []) parts.push(section.content ?? '');
  const text = parts.join('\n').toLowerCase();
  test.searchCache = { longrepr: test.longrepr, sections: test.sections, summary: test.summary, text };
  return text;
}

function compareSeconds(value, { op, seconds }) {
  switch (op) {
    case '>': return value > seconds;
    case '<': return value < seconds;
    case '<=': return value <= seconds;
    case '=': return Math.abs(value - seconds) < 0.0005;
    default: return value >= seconds;
  }
}

/** Whether `test` (a store record: id, file, status, markers, worker, duration…) matches. */
export function matchesSearch(test, query) {
  if (query.empty) return true;
  // `status:` counts as the chips and the status filter do (counting.js).
  if (query.status.length > 0 && !query.status.some((status) => matchesStatus(test, status, isFailure))) return false;
  if (query.worker.length > 0 && !query.worker.includes(String(test.worker ?? '').toLowerCase())) return false;
  if (query.file.length > 0) {
    const file = String(test.file ?? '').toLowerCase();
    if (!query.file.some((part) => file.includes(part))) return false;
  }
  if (query.marker.length > 0) {
    const markers = (test.markers ?? []).map((m) => String(m).toLowerCase());
    if (!query.marker.some((marker) => markers.includes(marker))) return false;
  }
  if (query.duration.length > 0) {
    if (typeof test.duration !== 'number') return false;
    if (!query.duration.every((term) => compareSeconds(test.duration, term))) return false;
  }
  if (query.words.length === 0) return true;
  const haystack = searchHaystack(test);
  return query.words.every((word) => haystack.includes(word));
}

/** [start, end) ranges of `words` in `text`, merged and in order: what to highlight. */
export function matchRanges(text, words) {
  const ranges = [];
  if (!text || words.length === 0) return ranges;
  const lower = text.toLowerCase();
  for (const word of words) {
    if (word === '') continue;
    let from = 0;
    for (;;) {
      const at = lower.indexOf(word, from);
      if (at === -1) break;
      ranges.push([at, at + word.length]);
      from = at + word.length;
    }
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  return merged;
}

/**
 * `tests` in the order asked for: `order` (collection, as given), `name` (node id), or
 * `duration` (slowest first; tests without a duration last, in collection order).
 */
export function sortTests(tests, by) {
  if (by === 'name') return [...tests].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (by === 'duration') {
    const indexed = tests.map((test, index) => ({ test, index }));
    indexed.sort((a, b) => {
      const x = typeof a.test.duration === 'number' ? a.test.duration : -1;
      const y = typeof b.test.duration === 'number' ? b.test.duration : -1;
      return y - x || a.index - b.index;
    });
    return indexed.map((entry) => entry.test);
  }
  return tests;
}
