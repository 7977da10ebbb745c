// The key form. A run opened by its bare address (`--jb-live-link key` prints the address and
// the key apart, so that nothing the browser's history keeps opens the run) asks for its key
// here; so does a page whose key was refused (expired, another run's). The key is kept like
// a link's (credential.js) and the page goes on as if it had come with it.

import { keepToken } from './credential.js';

/**
 * The key in what was pasted: the key itself, the terminal's whole line (`… key: KEY`), or a
 * link that carries one (`?token=` or `#token=`). '' when there is none.
 */
export function keyFromText(text) {
  const trimmed = String(text ?? '').trim();
  const afterLabel = /(?:^|\s)key:\s*(\S+)\s*$/.exec(trimmed);
  if (afterLabel) return afterLabel[1];
  // A key is a signed token (JWT): base64url parts and dots.
  if (!/^https?:\/\//i.test(trimmed)) return /^[\w.-]+$/.test(trimmed) ? trimmed : '';
  try {
    const url = new URL(trimmed);
    const fragment = new URLSearchParams(url.hash.replace(/^#/, ''));
    return fragment.get('token') || url.searchParams.get('token') || '';
  } catch {
    return '';
  }
}

/**
 * Wire the page's key form: on submit the key is kept for this origin and `onKey(key)` is
 * called (the page reconnects or reloads its data with it). Returns `show(shown)`.
 */
export function mountKeyForm(form, onKey) {
  if (!form) return () => {};
  const input = form.querySelector('input');
  const problem = form.querySelector('[data-key-problem]');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const key = keyFromText(input.value);
    if (!key) {
      problem.textContent = 'That is not a key: paste the text after "key:" on the link line.';
      input.focus();
      return;
    }
    problem.textContent = '';
    input.value = '';
    form.hidden = true;
    onKey(keepToken(key));
  });
  return (shown) => {
    const appearing = shown && form.hidden;
    form.hidden = !shown;
    if (appearing) input.focus();
  };
}
