// LiveClient (viewer/client.js) against a fake WebSocket: batches, duplicates, resume, close codes.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { LiveClient } from '../../viewer/client.js';
import { CLOSE } from '../../viewer/protocol.js';

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    FakeSocket.made.push(this);
  }

  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen();
  }

  receive(message) {
    this.onmessage({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code = 1000, reason = '') {
    this.readyState = FakeSocket.CLOSED;
    this.onclose({ code, reason });
  }
}

beforeEach(() => {
  FakeSocket.made = [];
  globalThis.WebSocket = FakeSocket;
});

function client(options = {}) {
  const received = [];
  const states = [];
  const live = new LiveClient({
    url: 'ws://h/ws/c', onMessage: (m) => received.push(m), onState: (s) => states.push(s),
    reconnect: { initialDelayMs: 0, maxDelayMs: 0 }, ...options,
  });
  return { live, received, states };
}

const ev = (seq) => ({ type: 'test_started', seq, run_id: 'r1', test_id: `t.py::t${seq}` });

test('a batch is unpacked and an event already delivered is dropped', () => {
  const { live, received } = client();
  live.connect();
  const socket = FakeSocket.made[0];
  socket.open();
  socket.receive({ type: 'hello', run_id: 'r1', client_id: 'c', protocol: 1, log_length: 2 });
  socket.receive({ type: 'batch', count: 2, messages: [ev(1), ev(2)] });
  socket.receive(ev(2));
  socket.receive('not json');
  assert.deepEqual(received.map((m) => m.seq ?? m.type), ['hello', 1, 2]);
  assert.equal(live.stats.duplicates, 1);
});

test('after a drop it reconnects and resumes where it was, groups included', async () => {
  const { live } = client();
  live.connect();
  FakeSocket.made[0].open();
  live.subscribe('system_monitor');
  FakeSocket.made[0].receive(ev(1));
  FakeSocket.made[0].close(1006);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const again = FakeSocket.made[1];
  assert.ok(again, 'a second socket');
  again.open();
  assert.deepEqual(again.sent, [
    { type: 'resume', run_id: 'r1', last_seq: 1 },
    { type: 'subscribe', group: 'system_monitor' },
  ]);
  live.close();
});

test('a new client pings at once: nothing to resume, so the server need not wait for a resume', () => {
  const { live } = client();
  live.connect();
  FakeSocket.made[0].open();
  assert.deepEqual(FakeSocket.made[0].sent, [{ type: 'ping' }]);
  live.close();
});

for (const code of [CLOSE.RUN_COMPLETE, CLOSE.BAD_TOKEN, CLOSE.REPLACED]) {
  test(`close code ${code} is final: no reconnect`, async () => {
    const { live, states } = client();
    live.connect();
    FakeSocket.made[0].open();
    FakeSocket.made[0].close(code);
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(FakeSocket.made.length, 1);
    assert.equal(states.at(-1).state, 'disconnected');
    assert.equal(states.at(-1).closeCode, code);
  });
}

test('a reset starts the cursor over', () => {
  const { live } = client();
  live.connect();
  FakeSocket.made[0].open();
  FakeSocket.made[0].receive(ev(1));
  FakeSocket.made[0].receive({ type: 'reset', run_id: 'r2', reason: 'another run' });
  assert.equal(live.lastSeq, 0);
  assert.equal(live.runId, 'r2');
});
