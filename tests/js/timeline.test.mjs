// The worker timeline's model (viewer/timeline.js): lanes per worker, and per shard on a hub.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { applyTimelineEvent, laneFacts, timelineModel } from '../../viewer/timeline.js';
import { applyLaneEvent, laneOf } from '../../viewer/lanes.js';

let seq = 0;
const at = (second, type, fields = {}) => ({
  type, seq: ++seq, run_id: 'r', worker: 'main',
  timestamp: new Date(Date.UTC(2026, 11, 2, 3, 0, second)).toISOString(), ...fields,
});

function feed(events) {
  const model = timelineModel();
  for (const event of events) applyTimelineEvent(model, event);
  return model;
}

test('a serial run is one lane, main; idle until now while it runs, none after its end', () => {
  const events = [
    at(0, 'session_started'),
    at(1, 'test_started', { test_id: 'a.py::one' }),
    at(3, 'test_completed', { test_id: 'a.py::one', result: 'passed' }),
    at(8, 'system_status'),
  ];
  const model = feed(events);
  assert.deepEqual([...model.lanes.keys()], ['main']);
  assert.deepEqual(laneFacts(model), [{ worker: 'main', tests: 1, busySeconds: 2, idleAtEndSeconds: 5 }]);
  // pytest's own wrapping up after the last test is nobody's idle time.
  applyTimelineEvent(model, at(10, 'session_finished'));
  assert.deepEqual(laneFacts(model), [{ worker: 'main', tests: 1, busySeconds: 2, idleAtEndSeconds: 0 }]);
});

test('a later event of any kind while the run goes on asks for a redraw: the idle gap grows', () => {
  const model = feed([
    at(0, 'session_started'),
    at(1, 'test_started', { test_id: 'a.py::one' }),
    at(2, 'test_completed', { test_id: 'a.py::one', result: 'passed' }),
  ]);
  // A monitor sample five seconds on: nothing started or ended, yet the idle time changed.
  assert.equal(applyTimelineEvent(model, at(7, 'system_status')), true);
  assert.equal(laneFacts(model)[0].idleAtEndSeconds, 5);
  // One that does not move the end (same second) changes nothing drawn.
  assert.equal(applyTimelineEvent(model, at(7, 'system_status')), false);
  // After the run's end, later events (a lingering server's samples) change nothing drawn.
  applyTimelineEvent(model, at(8, 'session_finished'));
  assert.equal(applyTimelineEvent(model, at(12, 'system_status')), false);
});

test('the worker that ran out of tests is idle until the run\'s last test ended', () => {
  const model = feed([
    at(0, 'session_started'),
    at(1, 'test_started', { test_id: 'a', worker: 'gw0' }),
    at(1, 'test_started', { test_id: 'b', worker: 'gw1' }),
    at(2, 'test_completed', { test_id: 'b', worker: 'gw1', result: 'passed' }),
    at(30, 'test_completed', { test_id: 'a', worker: 'gw0', result: 'passed' }),
    at(40, 'session_finished'),
  ]);
  assert.deepEqual(laneFacts(model).map((fact) => [fact.worker, fact.idleAtEndSeconds]), [['gw0', 0], ['gw1', 28]]);
});

test('xdist workers are lanes in xdist order: gw2 before gw10', () => {
  const model = feed([
    at(0, 'session_started'),
    at(1, 'test_started', { test_id: 'a', worker: 'gw10' }),
    at(1, 'test_started', { test_id: 'b', worker: 'gw2' }),
    at(2, 'test_completed', { test_id: 'a', worker: 'gw10', result: 'failed' }),
  ]);
  assert.deepEqual(laneFacts(model).map((fact) => fact.worker), ['gw2', 'gw10']);
  assert.equal(model.bars, 2);
  // Still running, so not idle.
  assert.equal(laneFacts(model)[0].idleAtEndSeconds, 0);
});

test('on a hub each shard has its own lanes: two serial shards are not one `main`', () => {
  assert.deepEqual(laneOf({ worker: 'main', shard: 'part-b' }), { label: 'part-b', shard: 'part-b', worker: 'main' });
  assert.deepEqual(laneOf({ worker: 'gw1', shard: 'part-a' }).label, 'part-a gw1');
  assert.deepEqual(laneOf({ worker: 'gw1' }).label, 'gw1');
  const model = feed([
    at(0, 'session_started', { shard: 'part-b' }),
    at(0, 'session_started', { shard: 'part-a' }),
    at(1, 'test_started', { test_id: 'b.py::x', shard: 'part-b' }),
    at(1, 'test_started', { test_id: 'a.py::x', shard: 'part-a', worker: 'gw10' }),
    at(1, 'test_started', { test_id: 'a.py::y', shard: 'part-a', worker: 'gw2' }),
    at(4, 'test_completed', { test_id: 'b.py::x', shard: 'part-b', result: 'passed' }),
    at(5, 'test_completed', { test_id: 'a.py::x', shard: 'part-a', worker: 'gw10', result: 'passed' }),
    at(5, 'test_completed', { test_id: 'a.py::y', shard: 'part-a', worker: 'gw2', result: 'passed' }),
    at(9, 'session_finished'),
  ]);
  const facts = laneFacts(model);
  assert.deepEqual(facts.map((fact) => fact.worker), ['part-a gw2', 'part-a gw10', 'part-b']);
  // Each shard's own time, not the two overlapping on one lane.
  assert.deepEqual(facts.map((fact) => fact.busySeconds), [4, 4, 3]);
  assert.equal(facts[2].idleAtEndSeconds, 1); // to the last test's end (5 s), not the session's (9 s)
});

test('the worker lanes panel, too, keeps each shard\'s workers apart (serial shards have none)', () => {
  const lanes = new Map();
  for (const [shard, worker] of [['part-b', 'gw0'], ['part-a', 'gw0'], ['part-a', 'gw1'], ['part-b', 'main']]) {
    applyLaneEvent(lanes, at(1, 'test_completed', { test_id: `${shard}-${worker}`, shard, worker, result: 'passed' }));
  }
  assert.deepEqual([...lanes.keys()].sort(), ['part-a gw0', 'part-a gw1', 'part-b gw0']);
  assert.deepEqual([...lanes.values()].map((lane) => lane.done), [1, 1, 1]);
});
