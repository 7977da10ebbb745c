// The Heaviest tests panel's ranking (viewer/resources.js) under `node --test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topBy } from '../../viewer/resources.js';

test('topBy: the largest positive values, largest first, the earlier of equal ones', () => {
  const entries = [
    { id: 'a', cpu: 1 }, { id: 'b', cpu: 5 }, { id: 'c', cpu: 0 }, { id: 'd' },
    { id: 'e', cpu: 3 }, { id: 'f', cpu: 5 }, { id: 'g', cpu: -2 }, { id: 'h', cpu: 3 },
    { id: 'i', cpu: 'x' }, { id: 'j', cpu: 4 },
  ];
  assert.deepEqual(topBy(entries, 'cpu', 3).map((e) => e.id), ['b', 'f', 'j']);
  assert.deepEqual(topBy(entries, 'cpu', 5).map((e) => e.id), ['b', 'f', 'j', 'e', 'h']);
  assert.deepEqual(topBy(entries, 'cpu', 100).map((e) => e.id), ['b', 'f', 'j', 'e', 'h', 'a']);
  assert.deepEqual(topBy(entries, 'cpu', 0), []);
  assert.deepEqual(topBy(new Map(entries.map((e) => [e.id, e])).values(), 'cpu', 2).map((e) => e.id), ['b', 'f']);
});

test('topBy: the same as sorting everything, on many entries', () => {
  const entries = Array.from({ length: 5000 }, (_, i) => ({ id: i, memory: ((i * 7919) % 1013) - 100 }));
  const sorted = entries.filter((e) => e.memory > 0).sort((a, b) => b.memory - a.memory).slice(0, 8);
  assert.deepEqual(topBy(entries, 'memory', 8), sorted);
});
