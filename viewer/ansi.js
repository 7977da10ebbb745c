// ANSI escapes (SGR colours from pytest --color, rich, loggers) rendered as colour.
//
// Never as raw escapes: every escape sequence is taken out of the text; the SGR ones
// (`ESC[…m`) become classes on spans (and a CSSOM colour for 256-colour and RGB ones),
// the rest (cursor moves, titles) are dropped. Text stays text: spans get textContent.

// CSI (`ESC[` or the one-byte U+009B), OSC (`ESC]…BEL` or `ESC]…ESC\`), any other escape,
// and a lone ESC at the end.
// eslint-disable-next-line no-control-regex -- escape sequences are control characters
const ANSI_ESCAPES = /(?:\x1b\[|\x9b)([0-9;:?<=>]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?/g;
// eslint-disable-next-line no-control-regex -- the same
const ANSI_HAS_ESCAPE = /[\x1b\x9b]/;

export function hasAnsi(text) {
  return typeof text === 'string' && ANSI_HAS_ESCAPE.test(text);
}

/** The text without any escape sequence (for copying, searching and grouping). */
export function stripAnsi(text) {
  if (!hasAnsi(text)) return text ?? '';
  return text.replace(ANSI_ESCAPES, '');
}

export function ansiPlainStyle() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };
}

// The xterm 256-colour palette's colour for an index above 15 (0-15 are the classes).
function ansiPaletteColour(index) {
  if (index >= 232) {
    const level = 8 + (index - 232) * 10;
    return `rgb(${level}, ${level}, ${level})`;
  }
  const cube = index - 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return `rgb(${steps[Math.floor(cube / 36)]}, ${steps[Math.floor(cube / 6) % 6]}, ${steps[cube % 6]})`;
}

// An extended colour (38;5;N / 38;2;R;G;B) from the parameters after 38 or 48.
function ansiExtendedColour(params, at) {
  if (params[at] === 5 && at + 1 < params.length) {
    const index = params[at + 1];
    return { colour: index < 16 ? index : ansiPaletteColour(index), used: 2 };
  }
  if (params[at] === 2 && at + 3 < params.length) {
    const [r, g, b] = params.slice(at + 1, at + 4).map((v) => Math.max(0, Math.min(255, v)));
    return { colour: `rgb(${r}, ${g}, ${b})`, used: 4 };
  }
  return { colour: null, used: 1 };
}

/** Apply one SGR sequence's parameters to a style (a new object). */
export function applySgr(style, paramText) {
  const next = { ...style };
  const params = paramText === '' ? [0] : paramText.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < params.length; i += 1) {
    const code = params[i];
    if (code === 0) Object.assign(next, ansiPlainStyle());
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 7) next.inverse = true;
    else if (code === 22) next.bold = next.dim = false;
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code === 27) next.inverse = false;
    else if (code >= 30 && code <= 37) next.fg = code - 30;
    else if (code >= 90 && code <= 97) next.fg = code - 90 + 8;
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = code - 40;
    else if (code >= 100 && code <= 107) next.bg = code - 100 + 8;
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48) {
      const { colour, used } = ansiExtendedColour(params, i + 1);
      if (code === 38) next.fg = colour;
      else next.bg = colour;
      i += used;
    }
  }
  return next;
}

/**
 * Split text into runs of one style: [{text, style}], and the style at its end (so that
 * a traceback rendered line by line carries colours across lines).
 */
export function ansiRuns(text, style = ansiPlainStyle()) {
  const runs = [];
  let current = style;
  let last = 0;
  ANSI_ESCAPES.lastIndex = 0;
  for (let match = ANSI_ESCAPES.exec(text); match !== null; match = ANSI_ESCAPES.exec(text)) {
    if (match.index > last) runs.push({ text: text.slice(last, match.index), style: current });
    if (match[2] === 'm') current = applySgr(current, match[1]);
    last = ANSI_ESCAPES.lastIndex;
  }
  if (last < text.length) runs.push({ text: text.slice(last), style: current });
  return { runs, style: current };
}

function ansiIsPlain(style) {
  return style.fg === null && style.bg === null && !style.bold && !style.dim && !style.italic
    && !style.underline && !style.inverse;
}

/** A node for one run: a text node when unstyled, else a span with classes. */
export function ansiRunNode(run) {
  const { style } = run;
  if (ansiIsPlain(style)) return document.createTextNode(run.text);
  const span = document.createElement('span');
  span.textContent = run.text;
  const classes = ['ansi'];
  const [fg, bg] = style.inverse ? [style.bg, style.fg ?? 'default'] : [style.fg, style.bg];
  if (typeof fg === 'number') classes.push(`ansi-fg-${fg}`);
  else if (typeof fg === 'string' && fg !== 'default') span.style.color = fg;
  if (typeof bg === 'number') classes.push(`ansi-bg-${bg}`);
  else if (bg === 'default') classes.push('ansi-bg-inverse');
  else if (typeof bg === 'string') span.style.backgroundColor = bg;
  if (style.bold) classes.push('ansi-bold');
  if (style.dim) classes.push('ansi-dim');
  if (style.italic) classes.push('ansi-italic');
  if (style.underline) classes.push('ansi-underline');
  span.className = classes.join(' ');
  return span;
}

/** Append text with its colours to a node; plain text stays one text node. */
export function appendAnsi(node, text, style) {
  const value = text ?? '';
  if (!hasAnsi(value)) {
    node.append(value);
    return style ?? ansiPlainStyle();
  }
  const { runs, style: end } = ansiRuns(value, style);
  for (const run of runs) node.append(ansiRunNode(run));
  return end;
}

/** An element of `tag` holding `text` in colour. */
export function ansiElement(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  appendAnsi(node, text);
  return node;
}
