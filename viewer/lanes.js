// WorkerLanes: one lane per pytest-xdist worker (per shard and worker on a hub) — the test it runs now, how many tests it
// has done (and how many of them failed), whether it finished or crashed, and a marker for
// each crash naming the test it took down (docs/protocol.md, "pytest-xdist runs"). Hidden
// until the first event from a worker: in a serial run every event says `main`.
//
// LiveView (views.js) mounts it next to the monitor with `mountLanes(view, parent)` and feeds
// it what it applies to the store; a click on a lane's test selects it (`view.select`).
// Everything shown that comes from events goes through textContent.

import { el, setText } from './dom.js';
import { categoriesOf, countsText } from './counting.js';

// Redraw at most this often; a replay arrives as one batch and draws once.
export const LANES_DRAW_MS = 200;

/** A lane: `worker` its name (`gw1`; `part-a gw1` on a hub, see laneOf). */
export function newWorkerLane(worker, shard = '', xdistId = worker) {
  return { worker, shard, xdistId, state: 'running', current: null, currentName: '', done: 0, failed: 0, error: 0, crashes: [] };
}

/** gw2 before gw10: workers in the order xdist numbers them. */
export function workerOrder(a, b) {
  const number = (id) => Number.parseInt(String(id).replace(/^\D+/, ''), 10);
  const [x, y] = [number(a), number(b)];
  if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  return String(a).localeCompare(String(b));
}

/**
 * Where an event ran: its worker, and on a hub its shard as well (the hub stamps each event
 * with the `shard` that published it; every shard has its own `main` and `gw0`). `label` is
 * the lane's name: `gw1`, `main`, or on a hub `part-a` (a serial shard) or `part-a gw1`.
 */
export function laneOf(event) {
  const worker = typeof event.worker === 'string' ? event.worker : 'main';
  const shard = typeof event.shard === 'string' && event.shard !== '' ? event.shard : '';
  const label = shard === '' ? worker : worker === 'main' ? shard : `${shard} ${worker}`;
  return { label, shard, worker };
}

/** Lanes ({shard, worker}) in order: by shard, then as xdist numbers its workers. */
export function laneOrder(a, b) {
  if (a.shard !== b.shard) return a.shard < b.shard ? -1 : 1;
  return workerOrder(a.worker, b.worker);
}

/** Apply one event to `lanes` (a Map lane name -> lane); true if a lane changed. No DOM. */
export function applyLaneEvent(lanes, event) {
  if (typeof event.worker !== 'string' || event.worker === 'main') return false;
  const where = laneOf(event);
  let lane = lanes.get(where.label);
  const created = !lane;
  if (created) {
    lane = newWorkerLane(where.label, where.shard, where.worker);
    lanes.set(where.label, lane);
  }
  switch (event.type) {
    case 'worker_started':
      lane.state = 'running';
      break;
    case 'worker_finished':
      lane.state = 'finished';
      lane.current = null;
      break;
    case 'worker_crashed':
      lane.state = 'crashed';
      lane.crashes.push({ testId: event.test_id || null, error: String(event.error || 'crashed') });
      lane.current = null;
      break;
    case 'test_started':
      lane.current = event.test_id;
      lane.currentName = event.test_name || event.test_id;
      break;
    case 'test_completed':
      lane.done += 1;
      // Counted as pytest counts them (counting.js): an error is an error.
      for (const name of categoriesOf(event)) if (name === 'failed' || name === 'error') lane[name] += 1;
      if (lane.current === event.test_id) lane.current = null;
      break;
    default:
      return created;
  }
  return true;
}

export class WorkerLanes {
  constructor(onSelect = null) {
    this.onSelect = onSelect;
    this.lanes = new Map();
    this.rows = new Map();
    this.drawTimer = null;
    this.list = el('div', { className: 'lanes-list' });
    this.root = el('section', { className: 'lanes', 'data-testid': 'worker-lanes', 'aria-label': 'xdist workers', hidden: true },
      el('h2', { className: 'lanes-title fact-label', text: 'Workers' }), this.list);
  }

  /** Forget the run (a `reset`: a full replay follows). */
  clear() {
    this.lanes.clear();
    for (const row of this.rows.values()) row.root.remove();
    this.rows.clear();
    this.root.hidden = true;
  }

  applyEvents(messages) {
    let changed = false;
    for (const message of messages) {
      if (message.type === 'reset') {
        this.clear();
        changed = true;
      } else if (typeof message.seq === 'number' && applyLaneEvent(this.lanes, message)) {
        changed = true;
      }
    }
    if (changed && this.drawTimer === null) {
      this.drawTimer = setTimeout(() => {
        this.drawTimer = null;
        this.draw();
      }, LANES_DRAW_MS);
    }
  }

  row(worker) {
    let row = this.rows.get(worker);
    if (row) return row;
    const name = el('span', { className: 'lane-worker', text: worker });
    const current = el('button', { type: 'button', className: 'lane-current', 'data-testid': 'lane-current' });
    const done = el('span', { className: 'lane-done', 'data-testid': 'lane-done' });
    const crashes = el('span', { className: 'lane-crashes', 'data-testid': 'lane-crashes' });
    const root = el('div', { className: 'lane', dataset: { worker } }, name, current, done, crashes);
    current.addEventListener('click', () => {
      const lane = this.lanes.get(worker);
      const target = lane && (lane.current || (lane.crashes.at(-1) || {}).testId);
      if (target && this.onSelect) this.onSelect(target);
    });
    row = { root, current, done, crashes };
    this.rows.set(worker, row);
    return row;
  }

  draw() {
    const lanes = [...this.lanes.values()].sort((a, b) => laneOrder(
      { shard: a.shard, worker: a.xdistId }, { shard: b.shard, worker: b.xdistId }));
    this.root.hidden = lanes.length === 0;
    for (const lane of lanes) {
      const row = this.row(lane.worker);
      row.root.dataset.state = lane.state;
      if (lane.current) setText(row.current, lane.currentName);
      else setText(row.current, lane.state === 'running' ? 'idle' : lane.state);
      row.current.title = lane.current || '';
      const problems = countsText(lane, ['failed', 'error']);
      setText(row.done, `${lane.done} done${problems ? `, ${problems}` : ''}`);
      setText(row.crashes, lane.crashes.map(() => '✖').join(''));
      row.crashes.title = lane.crashes.map((c) => `${c.testId || 'no test'}: ${c.error}`).join('\n');
      this.list.append(row.root); // in worker order; append moves an existing row
    }
  }
}

/**
 * Put the lanes on the page of a LiveView (views.js): the view calls `mountLanes(this, panels)`
 * in its constructor, hands the lanes every batch it applies, and rebuilds them when the
 * timeline is scrubbed.
 */
export function mountLanes(view, parent = null) {
  const lanes = new WorkerLanes((testId) => view.revealAndSelect(testId));
  if (parent) parent.append(lanes.root);
  else document.querySelector('.summary').after(lanes.root);
  view.addPanel(lanes);
  return lanes;
}
