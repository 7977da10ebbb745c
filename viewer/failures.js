// Readable failures: a traceback as lines with the `E` lines and diff lines marked, its
// colours (ansi.js), every `path:line` a link to the user's editor (--jb-live-editor),
// copy buttons and the wrap toggle; and the cause of a failure, normalised, so failures
// can be grouped by it (triage.js).

import { el } from './dom.js';
import { ansiRuns, ansiPlainStyle, ansiRunNode, stripAnsi, appendAnsi } from './ansi.js';

// `path/to/x.py:12` (pytest's long and short styles) and `File "x.py", line 12` (native).
const TRACEBACK_PATH_LINE = /((?:[A-Za-z]:)?[\w.~/\\-]*\.py):(\d+)|File "([^"]+)", line (\d+)/g;
const EDITOR_SAFE_LINK = /^(?!(?:javascript|data|vbscript|blob):)[a-z][a-z0-9+.-]*:/i;
const TRACEBACK_WRAP_KEY = 'jb-live-wrap';

/** Where links point: the run's --jb-live-editor template and the directory pytest ran in. */
export const editorContext = { template: null, baseDir: '' };

/** Set from session_started (views.js): its `editor_url` and `invocation_dir`. */
export function setEditorContext(run) {
  editorContext.template = run && typeof run.editor_url === 'string' ? run.editor_url : null;
  editorContext.baseDir = (run && (run.invocation_dir ?? run.rootdir)) || '';
}

/** `a/./b/../c.py` -> `a/c.py`; a relative path is taken from the directory pytest ran in. */
export function absolutePath(path, baseDir) {
  const unix = path.replace(/\\/g, '/');
  const absolute = unix.startsWith('/') || /^[A-Za-z]:\//.test(unix);
  const full = absolute || !baseDir ? unix : `${baseDir.replace(/\\/g, '/').replace(/\/$/, '')}/${unix}`;
  const parts = [];
  for (const part of full.split('/')) {
    if (part === '..' && parts.length > 1) parts.pop();
    else if (part !== '.') parts.push(part);
  }
  return parts.join('/');
}

/** The editor link for `path:line`, or null when off (the default) or unsafe. */
export function editorHref(path, line, context = editorContext) {
  if (!context.template) return null;
  const encodedPath = encodeURIComponent(absolutePath(path, context.baseDir)).replace(/%2F/g, '/').replace(/%3A/g, ':');
  // `vscode://file/{path}` with `/home/x.py` is `vscode://file/home/x.py`, not `file//home`.
  const template = encodedPath.startsWith('/') ? context.template.replaceAll('/{path}', '{path}') : context.template;
  const href = template.replaceAll('{path}', encodedPath).replaceAll('{line}', String(line));
  return EDITOR_SAFE_LINK.test(href) ? href : null;
}

/** How a traceback line reads: `E` lines, diff lines, the failing source line. */
export function lineKind(plain) {
  const diff = /^E?\s*([-+?])(?:\s|$)/.exec(plain);
  const isError = /^E(?:\s|$)/.test(plain);
  if (diff && (isError || /^[-+?]\s/.test(plain))) {
    return `${isError ? 'tb-error ' : ''}tb-diff tb-diff-${{ '-': 'minus', '+': 'plus', '?': 'hint' }[diff[1]]}`;
  }
  if (isError) return 'tb-error';
  if (/^>\s/.test(plain)) return 'tb-current';
  if (/^\S.*\.py:\d+: /.test(plain)) return 'tb-location';
  return '';
}

// Runs of text with `path:line` made links: the links cut through the runs' colours.
function appendTracebackLinks(node, runs) {
  const plain = runs.map((run) => run.text).join('');
  const links = [];
  TRACEBACK_PATH_LINE.lastIndex = 0;
  for (let match = TRACEBACK_PATH_LINE.exec(plain); match !== null; match = TRACEBACK_PATH_LINE.exec(plain)) {
    links.push({ start: match.index, end: TRACEBACK_PATH_LINE.lastIndex, path: match[1] ?? match[3], line: match[2] ?? match[4] });
  }
  if (links.length === 0) {
    for (const run of runs) node.append(ansiRunNode(run));
    return;
  }
  let offset = 0;
  let linkIndex = 0;
  let target = node;
  for (const run of runs) {
    let at = 0;
    while (at < run.text.length) {
      const link = links[linkIndex];
      const position = offset + at;
      if (link && position === link.start) {
        const href = editorHref(link.path, link.line);
        target = href
          ? el('a', { className: 'editor-link', href, 'data-testid': 'editor-link', title: `Open ${link.path}:${link.line} in your editor` })
          : el('span', { className: 'path-ref', title: 'Run with --jb-live-editor to open this in your editor' });
        node.append(target);
      }
      const stop = link && position < link.start ? link.start - offset
        : link && position < link.end ? link.end - offset : run.text.length;
      const end = Math.min(run.text.length, stop);
      target.append(ansiRunNode({ text: run.text.slice(at, end), style: run.style }));
      at = end;
      if (link && offset + at >= link.end) {
        target = node;
        linkIndex += 1;
      }
    }
    offset += run.text.length;
  }
}

/** A traceback: one span per line, marked by kind, in colour, with editor links. */
export function tracebackElement(text, testid = 'traceback') {
  const pre = el('pre', { className: 'traceback', 'data-testid': testid });
  let style = ansiPlainStyle();
  const lines = (text ?? '').split('\n');
  lines.forEach((line, index) => {
    const parsed = ansiRuns(line, style);
    style = parsed.style;
    const plain = parsed.runs.map((run) => run.text).join('');
    const node = el('span', { className: `tb-line ${lineKind(plain)}`.trim() });
    appendTracebackLinks(node, parsed.runs);
    pre.append(node);
    if (index < lines.length - 1) pre.append('\n');
  });
  return pre;
}

/** Captured output, a summary: colour, no links. */
export function outputElement(text) {
  const pre = el('pre', {});
  appendAnsi(pre, text);
  return pre;
}

export function wrapPreferred() {
  try {
    return localStorage.getItem(TRACEBACK_WRAP_KEY) !== 'off';
  } catch {
    return true; // storage refused (a file:// report in some browsers): wrapped, the default
  }
}

/** Long lines wrap by default; the toggle (and the choice, kept) is the reader's. */
export function wrapToggle(root) {
  const button = el('button', { type: 'button', className: 'ghost-button small-button', 'data-testid': 'wrap-toggle' });
  const show = (on) => {
    root.classList.toggle('nowrap', !on);
    button.textContent = on ? 'Wrap: on' : 'Wrap: off';
    button.setAttribute('aria-pressed', String(on));
  };
  show(wrapPreferred());
  button.addEventListener('click', () => {
    const on = root.classList.contains('nowrap');
    try {
      localStorage.setItem(TRACEBACK_WRAP_KEY, on ? 'on' : 'off');
    } catch {
      // kept for this page only
    }
    show(on);
  });
  return button;
}

async function triageClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // refused (no focus, no permission): the old way below
    }
  }
  const area = el('textarea', { className: 'visually-hidden', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

/** A button that copies `text()` and says so; `data-copied` tells tests it did. */
export function copyTextButton(label, testid, text) {
  const button = el('button', { type: 'button', className: 'ghost-button small-button', 'data-testid': testid, text: label });
  button.addEventListener('click', async (event) => {
    event.stopPropagation();
    const copied = await triageClipboard(text());
    button.dataset.copied = String(copied);
    button.textContent = copied ? 'Copied' : 'Copy failed';
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/** The failure section's tools: wrap, copy traceback, copy node id. */
export function failureTools(root, test, traceback) {
  return el('div', { className: 'failure-tools' },
    wrapToggle(root),
    traceback ? copyTextButton('Copy traceback', 'copy-traceback', () => stripAnsi(traceback)) : null,
    copyTextButton('Copy node id', 'copy-node-id', () => test.id));
}

// The parts of a failure message that differ between failures of one cause.
const CAUSE_VARYING = [
  [/\b0x[0-9a-fA-F]+\b/g, '0x…'],
  [/\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g, '<id>'],
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/g, '<id>'],
  // Temporary paths: pytest's tmp_path, /tmp, macOS's /var/folders, Windows' Temp.
  [/(?:[A-Za-z]:)?[\\/]?(?:[^\s'"]*[\\/])?(?:tmp|temp|Temp|pytest-of-[^\\/\s'"]+|var[\\/]folders)[\\/][^\s'":,)\]]*/g, '<tmp>'],
  [/'(?:[^'\\\n]|\\.)*'/g, "'…'"],
  [/"(?:[^"\\\n]|\\.)*"/g, '"…"'],
  [/(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])/gi, 'N'],
];
export const MAX_CAUSE_CHARS = 240;

/** A failure message with numbers, addresses, ids, temp paths and quoted values made alike. */
export function normaliseCause(message) {
  let text = stripAnsi(message ?? '').split('\n').find((line) => line.trim() !== '') ?? '';
  for (const [pattern, replacement] of CAUSE_VARYING) text = text.replace(pattern, replacement);
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > MAX_CAUSE_CHARS ? `${text.slice(0, MAX_CAUSE_CHARS)}…` : text;
}

/** A failed or errored test's cause: its exception and message, normalised. */
export function causeOf(test) {
  const message = test.summary && test.summary !== 'failed' && test.summary !== 'error'
    ? test.summary
    : (stripAnsi(test.longrepr ?? '').split('\n').reverse().find((line) => /^E\s/.test(line)) ?? '').replace(/^E\s+/, '');
  return normaliseCause(message) || `${test.status} (no message)`;
}

/** Failures grouped by cause, biggest group first (ties: the cause seen first). */
export function groupByCause(tests) {
  const groups = new Map();
  for (const test of tests) {
    const cause = causeOf(test);
    let group = groups.get(cause);
    if (!group) {
      group = { cause, tests: [] };
      groups.set(cause, group);
    }
    group.tests.push(test);
  }
  return [...groups.values()].sort((a, b) => b.tests.length - a.tests.length);
}
