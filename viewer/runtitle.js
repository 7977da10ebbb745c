// The run's title: what ran (the project and the selection: pytest's arguments without this
// plugin's own options), with the whole command on hover. A hub run sharded over several
// pytest processes names its shards, each with its own selection. Pure but for mountRunTitle.

// This plugin's options that take no value (settings.py, is_flag=True); every other
// --jb-live-* option takes one, as `--opt value` or `--opt=value`.
export const JB_LIVE_FLAGS = new Set(['--jb-live', '--jb-live-open', '--jb-live-show-typed-text', '--jb-live-metrics-public']);

/** pytest's arguments without the --jb-live-* options (and their values). */
export function selectionArgs(args) {
  const kept = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = String(args[i]);
    if (arg.startsWith('--jb-live')) {
      if (!arg.includes('=') && !JB_LIVE_FLAGS.has(arg)) i += 1; // its value
      continue;
    }
    kept.push(arg);
  }
  return kept;
}

export function projectName(rootdir) {
  return String(rootdir ?? '').split(/[\\/]/).filter(Boolean).pop() ?? '';
}

function quoteArg(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/**
 * {text, full} for the session_started events of a run (one, or one per shard):
 * `project — pytest -k login tests/`, or `project — 3 shards: a (pytest x), b (pytest y)…`.
 */
export function runTitle(sessions) {
  if (sessions.length === 0) return { text: 'Waiting for the run…', full: '' };
  const project = projectName(sessions[0].rootdir);
  const prefix = project ? `${project} — ` : '';
  const command = (run) => `pytest ${(run.args ?? []).map((a) => quoteArg(String(a))).join(' ')}`.trim();
  const selection = (run) => `pytest ${selectionArgs(run.args ?? []).map((a) => quoteArg(String(a))).join(' ')}`.trim();
  const facts = (run) => `${run.host ?? ''} pid ${run.pid ?? ''} · ${Object.entries(run.versions ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`;
  const shards = sessions.filter((run) => typeof run.shard === 'string')
    .sort((a, b) => (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : 0));
  if (shards.length <= 1) {
    const run = sessions[sessions.length - 1];
    const name = shards.length === 1 ? ` (shard ${shards[0].shard})` : '';
    return { text: `${prefix}${selection(run)}${name}`, full: `${command(run)}\n${facts(run)}` };
  }
  const parts = shards.map((run) => `${run.shard} (${selection(run)})`);
  return {
    text: `${prefix}${shards.length} shards: ${parts.join(', ')}`,
    full: shards.map((run) => `${run.shard}: ${command(run)}\n  ${facts(run)}`).join('\n'),
  };
}

/** Keeps the run's session_started events (a panel of the LiveView) for its title. */
export class RunTitle {
  constructor(node) {
    this.node = node;
    this.sessions = [];
    this.expanded = false;
  }

  clear() {
    this.sessions = [];
  }

  applyEvents(messages) {
    let changed = false;
    for (const message of messages) {
      if (message.type === 'reset') {
        this.sessions = [];
        changed = true;
      } else if (message.type === 'session_started' && typeof message.seq === 'number') {
        // A shard that starts again (a resumed producer) replaces its earlier start.
        this.sessions = this.sessions.filter((run) => run.shard === undefined || run.shard !== message.shard);
        this.sessions.push(message);
        changed = true;
      }
    }
    if (changed) this.draw();
  }

  draw() {
    const { text, full } = runTitle(this.sessions);
    // Opened (a click, Enter), it shows the whole command, wrapped: a phone has no hover.
    const shown = this.expanded && full ? full : text;
    if (this.node.textContent !== shown) this.node.textContent = shown;
    this.node.title = full;
    this.node.classList.toggle('expanded', shown === full && full !== '');
    this.node.setAttribute('aria-expanded', String(shown === full && full !== ''));
  }

  /** A click (or Enter, Space) shows the whole command, or the short title again. */
  bindToggle() {
    this.expanded = false;
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'button');
    this.node.setAttribute('aria-expanded', 'false');
    const toggle = () => {
      this.expanded = !this.expanded;
      this.draw();
    };
    this.node.addEventListener('click', toggle);
    this.node.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      toggle();
    });
  }
}

export function mountRunTitle(view, node = document.getElementById('run-title')) {
  const title = new RunTitle(node);
  title.bindToggle();
  view.addPanel(title);
  return title;
}
