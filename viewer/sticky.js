// StickyGroup: the file (and class) of the first row on screen stays on top of the list while
// it scrolls, so `test_method[3]` deep in a long list still says where it lives. A click on
// it scrolls to that header. Hidden in the flat (sorted) list and at the very top.

import { el, setText } from './dom.js';

/** For each row, the index of its file header and of its class header (-1 if none). */
export function groupParents(rows) {
  const files = new Int32Array(rows.length);
  const classes = new Int32Array(rows.length);
  let file = -1;
  let cls = -1;
  for (let i = 0; i < rows.length; i += 1) {
    const kind = rows[i].kind;
    if (kind === 'file') {
      file = i;
      cls = -1;
    } else if (kind === 'class') {
      cls = i;
    } else if (rows[i].depth === 1) {
      cls = -1; // a test right under the file
    }
    files[i] = file;
    classes[i] = kind === 'file' ? -1 : cls;
  }
  return { files, classes };
}

export class StickyGroup {
  constructor(list, rowHeight) {
    this.list = list;
    this.rowHeight = rowHeight;
    this.parents = null;
    this.parentsOf = null;
    this.label = el('span', { className: 'sticky-label' });
    this.node = el('button', { type: 'button', className: 'sticky-group', 'data-testid': 'sticky-group', hidden: true, tabindex: '-1' },
      el('span', { className: 'twisty', 'aria-hidden': 'true', text: '▾' }), this.label);
    const holder = el('div', { className: 'sticky-holder' }, this.node);
    list.viewport.prepend(holder);
    this.node.addEventListener('click', (event) => {
      event.stopPropagation();
      const index = Number(this.node.dataset.index);
      if (Number.isFinite(index)) list.viewport.scrollTop = index * rowHeight;
    });
    list.onRender = (first) => this.update(first);
  }

  update(first) {
    const rows = this.list.rows;
    if (this.parentsOf !== rows) {
      this.parents = groupParents(rows);
      this.parentsOf = rows;
    }
    const scrolled = this.list.viewport.scrollTop > 0;
    const file = first < rows.length ? this.parents.files[first] : -1;
    if (!scrolled || file === -1) {
      this.node.hidden = true;
      return;
    }
    const cls = this.parents.classes[first];
    const key = cls === -1 ? rows[file].key : rows[cls].key;
    this.node.hidden = false;
    this.node.dataset.group = key;
    this.node.dataset.index = String(cls === -1 ? file : cls);
    this.node.title = key;
    setText(this.label, cls === -1 ? rows[file].label : `${rows[file].label} › ${rows[cls].label}`);
  }
}
