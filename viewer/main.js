// Entry point: replay an embedded recording (the HTML report) or watch the run live.

import { LiveClient } from './client.js';
import { socketProtocols, takeToken } from './credential.js';
import { mountKeyForm } from './keyform.js';
import { RunStore } from './store.js';
import { LiveView } from './views.js';

export const ACK_INTERVAL_MS = 500;

export function randomClientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `viewer-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The live socket's URL, relative to the page: /ws/<id> on a run's own server,
 * /runs/<run_id>/ws/<id> when a hub serves the viewer at /runs/<run_id>/.
 */
export function socketUrl(page, clientId) {
  const url = new URL(`ws/${clientId}`, page.href);
  url.protocol = page.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';
  return url.href;
}

export function base64ToBytes(text) {
  if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The events of a `<script type="application/json" id="jb-live-recording">` block: a JSON
 * array of events, or {"encoding": "gzip+base64", "data": "..."} wrapping that array.
 */
export async function readRecording(node) {
  const content = JSON.parse(node.textContent);
  if (Array.isArray(content)) return content;
  if (content && content.encoding === 'gzip+base64') {
    const stream = new Blob([base64ToBytes(content.data)]).stream().pipeThrough(new DecompressionStream('gzip'));
    return JSON.parse(await new Response(stream).text());
  }
  throw new Error(`unsupported recording encoding: ${content && content.encoding}`);
}

export async function startViewer() {
  const store = new RunStore();
  const view = new LiveView(store);
  // A debug handle for tests and the curious; nothing in the page depends on it.
  const handle = { store, view, client: null, readyAt: null };
  window.__jbLive = handle;

  const recording = document.getElementById('jb-live-recording');
  if (recording) {
    view.setConnection({ state: 'recording', retryAt: null, closeCode: null });
    view.enqueueAll(await readRecording(recording));
    view.flush();
  } else {
    const client = new LiveClient({
      url: socketUrl(location, randomClientId()),
      protocols: socketProtocols(takeToken()),
      onMessage: (message) => view.enqueue(message),
      onState: (state) => view.setConnection(state),
    });
    view.onReconnectNow = () => client.reconnectNow();
    // A key typed into the page (no key in its address, or a refused one): connect with it.
    view.showKeyForm = mountKeyForm(document.getElementById('key-form'), (key) => {
      client.protocols = socketProtocols(key);
      client.reconnectNow();
    });
    view.send = (message) => client.send(message);
    handle.client = client;
    client.connect();
    // Acks say what has been applied (not just received); twice a second is enough for lag.
    let acked = 0;
    setInterval(() => {
      if (store.lastSeq !== acked && client.state === 'connected') {
        acked = store.lastSeq;
        client.ack(acked);
      }
    }, ACK_INTERVAL_MS);
  }
  // Ready once the first render has been painted.
  requestAnimationFrame(() => setTimeout(() => {
    handle.readyAt = performance.now();
    document.documentElement.dataset.ready = 'true';
  }));
}

startViewer();
