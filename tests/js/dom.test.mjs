// dom.js's helpers that need no DOM, under `node --test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timestampMs } from '../../viewer/dom.js';

test('timestampMs: Date.parse of each text, the same text twice or another after it', () => {
  const texts = ['2026-12-02T05:55:48.168Z', '2026-12-02T05:55:48.168Z', '2026-12-02T05:55:48.169Z',
    '2026-12-02T05:55:48.168Z', 'not a time', undefined, '2026-12-02T05:55:48.169Z'];
  for (const text of texts) {
    const expected = Date.parse(text);
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(timestampMs(text)), String(text));
    else assert.equal(timestampMs(text), expected, text);
  }
});
