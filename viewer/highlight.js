// Highlighting what the search found: <mark> around each match, built from text nodes only
// (never HTML from strings), in a list row's label and in the detail panel's text.

import { matchRanges } from './search.js';

/** Set `node`'s content to `text` with the search's `words` marked. */
export function markText(node, text, words) {
  const ranges = matchRanges(text, words);
  if (ranges.length === 0) {
    if (node.childElementCount !== 0 || node.textContent !== text) node.textContent = text;
    return;
  }
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) parts.push(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement('mark');
    mark.textContent = text.slice(start, end);
    parts.push(mark);
    at = end;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  node.replaceChildren(...parts);
}

/**
 * Mark the `words` in every text node under `root` that the `selector` matches (for the
 * detail panel: its name, traceback and output), whatever markup another module put there.
 */
export function markMatches(root, selector, words) {
  if (words.length === 0) return 0;
  let marked = 0;
  for (const container of root.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(container, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) nodes.push(node);
    for (const node of nodes) {
      if (node.parentElement && node.parentElement.closest('mark')) continue;
      const text = node.nodeValue;
      if (matchRanges(text, words).length === 0) continue;
      const holder = document.createElement('span');
      markText(holder, text, words);
      marked += holder.querySelectorAll('mark').length;
      node.replaceWith(...holder.childNodes);
    }
  }
  return marked;
}
