// The page's credential: the link's token, kept by the page itself and sent only to its own
// server (docs/security.md, "The browser's credential").
//
// The link (`/?token=…` or `/#token=…`) is read once and the token leaves the address bar;
// it is kept in the origin's localStorage. An origin is scheme, host *and port*: another
// run's server on another port can neither read it nor overwrite it, and it goes nowhere by
// itself (a cookie went to every port of 127.0.0.1). It is sent explicitly: as a WebSocket
// subprotocol (`jb-live-token.<token>`, browsers cannot set headers on a WebSocket), and as
// `Authorization: Bearer` on fetches, images included (loaded as blobs).

export const TOKEN_KEY = 'jb-live-token';
export const PROTOCOL = 'jb-live';
export const TOKEN_PROTOCOL_PREFIX = 'jb-live-token.';

function storageOf(win) {
  try {
    return win.localStorage;
  } catch {
    return null; // storage refused (a sandboxed frame): the token lives as long as the page
  }
}

let pageToken = null;

/**
 * The token of this page: the one in its address (taken out of the address, kept for the
 * origin), else the one kept earlier, else null.
 */
export function takeToken(win = globalThis.window) {
  const url = new URL(win.location.href);
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ''));
  const token = fragment.get('token') || url.searchParams.get('token');
  const storage = storageOf(win);
  if (token) {
    keepToken(token, win);
    url.searchParams.delete('token');
    fragment.delete('token');
    const rest = fragment.toString();
    url.hash = rest ? `#${rest}` : '';
    win.history.replaceState(win.history.state, '', url.href);
    return token;
  }
  pageToken = (storage && storage.getItem(TOKEN_KEY)) || pageToken;
  return pageToken;
}

/** Keep `token` as this page's (and this origin's) token: a key typed into the page. */
export function keepToken(token, win = globalThis.window) {
  pageToken = token;
  const storage = storageOf(win);
  if (storage) storage.setItem(TOKEN_KEY, token);
  return token;
}

/** The subprotocols a WebSocket offers to carry the token (none without one). */
export function socketProtocols(token) {
  return token ? [PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`] : [];
}

/** Headers that authorize a fetch to the page's own server. */
export function authHeaders(token = pageToken) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** fetch() with the page's token. */
export function authorizedFetch(path, options = {}) {
  return fetch(path, { ...options, headers: { ...(options.headers ?? {}), ...authHeaders() } });
}

/**
 * Give an <img> the picture at `url`: fetched with the token and shown from a blob, so its
 * address carries no token. Other addresses (data:, a report's files) are set as they are.
 */
export function showImage(img, url) {
  img.dataset.source = url; // where it comes from (the src may be a blob)
  if (!pageToken || url.startsWith('data:') || /^[a-z]+:/i.test(url)) {
    img.src = url;
    return img;
  }
  authorizedFetch(url, { cache: 'no-store' })
    .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then((blob) => { img.src = URL.createObjectURL(blob); })
    .catch(() => { img.alt = `${img.alt} (not available)`; });
  return img;
}
