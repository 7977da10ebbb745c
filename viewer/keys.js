// The keyboard. In the list (a listbox over the virtualised rows, see list.js):
//   ↑ ↓ the previous / next row (a test row selects its test)   Home End the first / last row
//   Enter  opens the test (the detail; on a phone its own screen), or folds/unfolds a header
//   ←  folds the header above (on a test: its class or file)     →  unfolds, or goes into it
// Anywhere on the page (not while typing): `/` focuses the search, `?` shows this list.

export const KEY_HELP = [
  ['↑ / ↓', 'previous / next row'],
  ['Home / End', 'first / last row'],
  ['Enter', 'open the test, or fold / unfold a header'],
  ['← / →', 'fold / unfold (← on a test folds its group)'],
  ['/', 'search'],
  ['n / p', 'next / previous failure (triage.js)'],
  ['?', 'show these keys'],
  ['Esc', 'close this, or back to the list on a phone'],
];

function rowIndexOf(list, key) {
  return list.rows.findIndex((row) => row.key === key);
}

/** The header row a test row (or class header) sits under: its class, else its file. */
function parentIndex(list, index) {
  const row = list.rows[index];
  for (let i = index - 1; i >= 0; i -= 1) {
    const other = list.rows[i];
    if (other.kind === 'file') return i;
    if (other.kind === 'class' && row.kind === 'test') return i;
  }
  return -1;
}

/** Put the keyboard on row `index`: a test is selected, a header just gets the cursor. */
export function moveCursorTo(list, index) {
  if (index < 0 || index >= list.rows.length) return;
  const row = list.rows[index];
  if (row.kind === 'test') {
    list.onSelect(row.test.id);
    return;
  }
  list.cursorKey = row.key;
  list.scrollToIndex(index);
  list.render();
  if (list.onCursor) list.onCursor(row);
}

/** Handle a key on the list; returns whether it was one of ours. */
export function listKey(list, event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return false;
  const rows = list.rows;
  let index = list.cursorKey === null ? -1 : rowIndexOf(list, list.cursorKey);
  const row = index === -1 ? null : rows[index];
  switch (event.key) {
    case 'ArrowDown':
      moveCursorTo(list, Math.min(rows.length - 1, index + 1));
      break;
    case 'ArrowUp':
      moveCursorTo(list, index === -1 ? 0 : Math.max(0, index - 1));
      break;
    case 'Home':
      moveCursorTo(list, 0);
      break;
    case 'End':
      moveCursorTo(list, rows.length - 1);
      break;
    case 'Enter':
    case ' ':
      if (!row) return false;
      if (row.kind === 'test') {
        if (list.onOpen) list.onOpen(row.test.id);
      } else {
        list.toggleGroup(row.key);
      }
      break;
    case 'ArrowLeft':
      if (!row) return false;
      if (row.kind !== 'test' && !list.collapsed.has(row.key)) {
        list.toggleGroup(row.key, true);
      } else {
        index = parentIndex(list, index);
        if (index === -1) break;
        const parent = rows[index];
        if (row.kind === 'test') list.toggleGroup(parent.key, true);
        list.cursorKey = parent.key;
        moveCursorTo(list, rowIndexOf(list, parent.key));
      }
      break;
    case 'ArrowRight':
      if (!row || row.kind === 'test') return false;
      if (list.collapsed.has(row.key)) list.toggleGroup(row.key, false);
      else moveCursorTo(list, index + 1);
      break;
    default:
      return false;
  }
  event.preventDefault();
  return true;
}

function typing(target) {
  if (!(target instanceof Element)) return false;
  return target.closest('input, textarea, select, [contenteditable="true"]') !== null;
}

/**
 * Page keys: `/` to the search box, `?` the key list (a <dialog>), Esc closes it. `view`
 * is the LiveView (views.js); the dialog is built here.
 */
export function mountKeys(view) {
  const dialog = document.createElement('dialog');
  dialog.className = 'key-help';
  dialog.dataset.testid = 'key-help';
  dialog.setAttribute('aria-labelledby', 'key-help-title');
  const title = document.createElement('h2');
  title.id = 'key-help-title';
  title.textContent = 'Keyboard';
  const table = document.createElement('dl');
  for (const [keys, what] of KEY_HELP) {
    const term = document.createElement('dt');
    term.textContent = keys;
    const description = document.createElement('dd');
    description.textContent = what;
    table.append(term, description);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'button';
  close.textContent = 'Close';
  close.addEventListener('click', () => dialog.close());
  dialog.append(title, table, close);
  document.body.append(dialog);
  const help = document.getElementById('key-help-button');
  if (help) help.addEventListener('click', () => dialog.showModal());

  document.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
      if (event.key === 'Escape' && event.target.id === 'search') event.target.blur();
      return;
    }
    if (event.key === '/') {
      event.preventDefault();
      const search = document.getElementById('search');
      search.focus();
      search.select();
    } else if (event.key === '?') {
      event.preventDefault();
      if (dialog.open) dialog.close();
      else dialog.showModal();
    } else if (event.key === 'Escape' && !dialog.open && view.closeDetailScreen) {
      view.closeDetailScreen();
    }
  });
  return dialog;
}
