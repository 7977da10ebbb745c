// The page's state in its address: the selected test, the status filter, the search and the
// sort live in the fragment (`#test=…&status=failed&q=…&sort=duration`), so a reload or a
// link opens the same view. The fragment never reaches the server, and the link's token
// leaves the address as the page loads (credential.js keeps it for the origin), so a
// copied link carries no token: it opens the test for anyone who can open the run.
//
// readFragment/writeFragment/shareLink are pure (node --test); UrlState binds them to a
// LiveView (views.js): `mountUrlState(view)`.

export const FRAGMENT_DEFAULTS = Object.freeze({ test: null, status: 'all', q: '', sort: 'order' });
const FRAGMENT_KEYS = ['test', 'status', 'q', 'sort'];

/** The view state a fragment (`#…` or `…`) asks for; what it leaves out is the default. */
export function readFragment(hash) {
  const params = new URLSearchParams(String(hash ?? '').replace(/^#/, ''));
  const state = { ...FRAGMENT_DEFAULTS };
  for (const key of FRAGMENT_KEYS) {
    const value = params.get(key);
    if (value !== null && value !== '') state[key] = value;
  }
  return state;
}

/** The fragment for a view state, defaults left out; '' when everything is the default. */
export function writeFragment(state) {
  const params = new URLSearchParams();
  for (const key of FRAGMENT_KEYS) {
    const value = state[key];
    if (value !== null && value !== undefined && value !== '' && value !== FRAGMENT_DEFAULTS[key]) {
      params.set(key, value);
    }
  }
  const text = params.toString();
  return text === '' ? '' : `#${text}`;
}

/** The address to share: this page with the view's fragment, and never a `token`. */
export function shareLink(href, state) {
  const url = new URL(href);
  url.searchParams.delete('token');
  url.hash = writeFragment(state);
  return url.href;
}

export class UrlState {
  /**
   * @param {object} view  the LiveView: select(id), setFilter(status), setQuery(text),
   *   setSort(by), and what they hold (detail.testId, statusFilter, queryText, sortBy)
   */
  constructor(view, button) {
    this.view = view;
    this.button = button;
    // A test asked for by the address before the run has told of it (the page is still
    // catching up): selected as soon as the store knows it.
    this.pendingTest = null;
    this.applying = false;
    this.apply(readFragment(location.hash));
    window.addEventListener('hashchange', () => this.apply(readFragment(location.hash)));
    if (button) button.addEventListener('click', () => this.copy());
  }

  state() {
    const view = this.view;
    return {
      test: view.detail.testId ?? this.pendingTest,
      status: view.statusFilter,
      q: view.queryText,
      sort: view.sortBy,
    };
  }

  apply(state) {
    this.applying = true;
    try {
      const view = this.view;
      if (state.status !== view.statusFilter) view.setFilter(state.status);
      if (state.q !== view.queryText) view.setQuery(state.q);
      if (state.sort !== view.sortBy) view.setSort(state.sort);
      this.pendingTest = state.test;
      this.trySelect();
    } finally {
      this.applying = false;
    }
  }

  /** Select the test the address asked for once the store has it; called after each frame. */
  trySelect() {
    const id = this.pendingTest;
    if (id === null) return;
    if (!this.view.store.tests.has(id)) return;
    this.pendingTest = null;
    if (this.view.detail.testId !== id) this.view.revealAndSelect(id, { announce: false });
  }

  /** The view changed: say so in the address (replacing the entry, not adding to history). */
  changed() {
    if (this.applying) return;
    const fragment = writeFragment(this.state());
    if (fragment === location.hash || (fragment === '' && location.hash === '')) return;
    const url = new URL(location.href);
    url.hash = fragment;
    history.replaceState(history.state, '', url.href);
  }

  link() {
    return shareLink(location.href, this.state());
  }

  async copy() {
    const link = this.link();
    const button = this.button;
    button.dataset.link = link;
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(link);
        copied = true;
      }
    } catch {
      copied = false;
    }
    if (!copied) copied = copyWithSelection(link);
    button.dataset.copied = String(copied);
    const label = button.querySelector('.copy-link-label') ?? button;
    label.textContent = copied ? 'Link copied' : 'Copy failed: see the address bar';
    clearTimeout(this.labelTimer);
    this.labelTimer = setTimeout(() => { label.textContent = 'Copy link'; }, 2500);
  }
}

/** The old way, where the Clipboard API is refused (an http:// page off localhost). */
export function copyWithSelection(text) {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'visually-hidden';
  document.body.append(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand('copy');
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

/** On a hub (the viewer at /runs/RUN_ID/), the way back to its run list. */
export function hubListAddress(loc) {
  if (loc.protocol !== 'http:' && loc.protocol !== 'https:') return null;
  const match = /^(.*\/)runs\/[^/]+\/(?:index\.html)?$/.exec(loc.pathname);
  return match ? match[1] : null;
}

export function mountUrlState(view) {
  const back = document.getElementById('hub-back');
  const list = hubListAddress(location);
  if (back && list !== null) {
    back.href = list;
    back.hidden = false;
  }
  const state = new UrlState(view, document.getElementById('copy-link'));
  view.urlState = state;
  return state;
}
