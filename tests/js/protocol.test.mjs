// viewer/protocol.js (generated from pytest_jbrealtime/protocol/): what the viewer relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CLOSE, EVENT, FAILURE_RESULTS, PHASES, RESERVED_TYPES, WORKER_TYPES, isFailureResult, splitNodeId,
} from '../../viewer/protocol.js';

test('splitNodeId keeps "::" inside a parameter id', () => {
  assert.deepEqual(splitNodeId('t.py::test_x[a::b]'), { file: 't.py', classes: [], cls: null, name: 'test_x[a::b]' });
  assert.deepEqual(splitNodeId('tests/a.py::TestOuter::TestInner::test_y[1-[x]]'), {
    file: 'tests/a.py', classes: ['TestOuter', 'TestInner'], cls: 'TestInner', name: 'test_y[1-[x]]',
  });
});

test('splitNodeId: brackets in the path are the path, an id without "::" is a file', () => {
  assert.deepEqual(splitNodeId('dir[1]/t.py::test_z'), { file: 'dir[1]/t.py', classes: [], cls: null, name: 'test_z' });
  assert.deepEqual(splitNodeId('tests/test_broken.py'), {
    file: 'tests/test_broken.py', classes: [], cls: null, name: 'tests/test_broken.py',
  });
});

test('the constants say what docs/protocol.md says', () => {
  assert.deepEqual([...PHASES], ['setup', 'call', 'teardown']);
  assert.equal(CLOSE.BAD_TOKEN, 4001);
  assert.equal(CLOSE.REPLACED, 4009);
  assert.equal(EVENT.TEST_COMPLETED, 'test_completed');
  assert.deepEqual([...FAILURE_RESULTS].sort(), ['crashed', 'error', 'failed']);
  assert.ok(isFailureResult('crashed') && !isFailureResult('xfailed') && !isFailureResult('rerun'));
  for (const name of ['worker_started', 'worker_crashed', 'shard_joined', 'shard_resumed', 'batch', 'hello']) {
    assert.ok(RESERVED_TYPES.has(name), name);
  }
  assert.ok(WORKER_TYPES.has('worker_finished'));
  assert.throws(() => { PHASES.push('later'); }, TypeError); // frozen
});
