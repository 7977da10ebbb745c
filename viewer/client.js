// LiveClient: the WebSocket client for the pytest-jbrealtime live protocol (docs/protocol.md).
//
// It needs only protocol.js (the generated constants) and no DOM, so it can be reused in other
// dashboards.
// It unpacks `batch` frames, drops events it has already delivered, and reconnects with
// exponential backoff, sending `resume` as its first message so that nothing is lost or
// delivered twice. See docs/viewer.md for the API.

import { CLOSE } from './protocol.js';

// Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes").
// REPLACED: the same user opened more connections than the server allows and this, the oldest,
// was closed: reconnecting on our own would close the next oldest, and so on around the tabs.
// The app decides (LiveView: a button, or the tab becoming visible again).
export const CLIENT_FINAL_CLOSE_CODES = new Set([CLOSE.RUN_COMPLETE, CLOSE.BAD_TOKEN, CLOSE.REPLACED]);

export const CLIENT_DEFAULT_RECONNECT = Object.freeze({ initialDelayMs: 500, maxDelayMs: 10000, factor: 2 });

export class LiveClient {
  /**
   * @param {object} options
   * @param {string} options.url  ws:// or wss:// URL of the server's /ws/{client_id} route.
   * @param {(message: object) => void} options.onMessage  called once per event (in seq
   *   order, never twice) and for every non-event message (hello, viewers, reset, pong, error).
   *   On `reset`, clear everything derived from earlier events: a full replay follows.
   * @param {(state: object) => void} [options.onState]  connection state changes:
   *   {state: 'connecting'|'connected'|'reconnecting'|'disconnected', retryAt, closeCode, reason}.
   * @param {{initialDelayMs?: number, maxDelayMs?: number, factor?: number}} [options.reconnect]
   * @param {string[]} [options.protocols]  WebSocket subprotocols to offer (the page's token
   *   travels as one: credential.js).
   */
  constructor({ url, onMessage, onState = () => {}, reconnect = {}, protocols = [] }) {
    this.url = url;
    this.protocols = protocols;
    this.onMessage = onMessage;
    this.onState = onState;
    this.reconnectOptions = { ...CLIENT_DEFAULT_RECONNECT, ...reconnect };
    this.runId = null;
    this.lastSeq = 0;
    // Groups beyond `general` (which the server puts every viewer in), re-sent after a reconnect.
    this.groups = new Set();
    this.socket = null;
    this.state = 'disconnected';
    this.delayMs = this.reconnectOptions.initialDelayMs;
    this.retryTimer = null;
    this.closedByUser = false;
    this.skipNextDelay = false;
    // Counters for tests and diagnostics: how many frames/events arrived and how many were dropped.
    this.stats = { attempts: 0, connects: 0, frames: 0, events: 0, duplicates: 0 };
  }

  /** Open the connection (again). Safe to call while connected: does nothing then. */
  connect() {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closedByUser = false;
    this.stats.attempts += 1;
    this.setState(this.stats.attempts === 1 ? 'connecting' : 'reconnecting', { retryAt: null });
    const socket = this.protocols.length ? new WebSocket(this.url, this.protocols) : new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => this.handleOpen(socket);
    socket.onmessage = (frame) => this.handleFrame(socket, frame.data);
    socket.onclose = (event) => this.handleClose(socket, event.code, event.reason);
  }

  /** Receive a group's events too (`test_<test_id>`, `system_monitor`, `general`). */
  subscribe(group) {
    this.groups.add(group);
    this.send({ type: 'subscribe', group });
  }

  /** Stop receiving a group's events. */
  unsubscribe(group) {
    this.groups.delete(group);
    this.send({ type: 'unsubscribe', group });
  }

  /** Tell the server the app has shown everything up to `seq` (the server's lag metrics). */
  ack(seq) {
    this.send({ type: 'ack', seq });
  }

  /** Close for good: no reconnect follows. */
  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) this.socket.close(1000);
    this.setState('disconnected', { closeCode: 1000, reason: 'closed' });
  }

  /** Skip the remaining backoff delay and reconnect now (resuming where the client was). */
  reconnectNow() {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) {
      // Closing an open socket goes through handleClose, which schedules the reconnect.
      this.skipNextDelay = true;
      this.socket.close(4000, 'reconnect');
      return;
    }
    this.connect();
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  handleOpen(socket) {
    if (socket !== this.socket) return;
    this.stats.connects += 1;
    // The server holds its replay back briefly for this: a resume sent first decides where it starts.
    // With nothing to resume, a ping says so: any first message ends that wait (up to
    // 200 ms before the first event; a late joiner of a large run spent it idle).
    if (this.runId !== null) {
      socket.send(JSON.stringify({ type: 'resume', run_id: this.runId, last_seq: this.lastSeq }));
    } else {
      socket.send(JSON.stringify({ type: 'ping' }));
    }
    for (const group of this.groups) socket.send(JSON.stringify({ type: 'subscribe', group }));
    this.delayMs = this.reconnectOptions.initialDelayMs;
    this.setState('connected', { retryAt: null });
  }

  handleFrame(socket, data) {
    if (socket !== this.socket) return;
    this.stats.frames += 1;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // the server only sends JSON; anything else is not ours to interpret
    }
    if (message.type === 'batch') {
      for (const event of message.messages) this.deliver(event);
    } else {
      this.deliver(message);
    }
  }

  deliver(message) {
    if (typeof message.seq === 'number') {
      if (message.seq <= this.lastSeq) {
        this.stats.duplicates += 1;
        return;
      }
      this.lastSeq = message.seq;
      this.runId = message.run_id ?? this.runId;
      this.stats.events += 1;
    } else if (message.type === 'hello') {
      // A hello for another run means our cursor is meaningless there; the server will reset us.
      if (this.runId === null) this.runId = message.run_id;
    } else if (message.type === 'reset') {
      this.runId = message.run_id;
      this.lastSeq = 0;
    }
    this.onMessage(message);
  }

  handleClose(socket, code, reason) {
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.closedByUser) return;
    if (CLIENT_FINAL_CLOSE_CODES.has(code)) {
      this.setState('disconnected', { closeCode: code, reason });
      return;
    }
    let delay = 0;
    if (this.skipNextDelay) {
      this.skipNextDelay = false;
    } else {
      delay = this.delayMs;
      const { factor, maxDelayMs } = this.reconnectOptions;
      this.delayMs = Math.min(delay * factor, maxDelayMs);
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState('reconnecting', { retryAt: Date.now() + delay, closeCode: code, reason });
  }

  setState(state, details) {
    this.state = state;
    this.onState({ state, retryAt: null, closeCode: null, reason: '', ...details });
  }
}
