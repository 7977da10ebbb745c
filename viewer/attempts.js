// Each attempt of a test that pytest-rerunfailures ran again, on its own labelled tab:
// attempt 1, 2, … with its result, its traceback and its output.

import { el } from './dom.js';

// The tab chosen per test, kept while the detail re-renders; the last attempt by default.
const chosenAttempt = new Map();

/** Every attempt as a test-like record: the reruns' test_completed events, then the test. */
export function attemptsOf(test) {
  const attempts = test.attempts.map((event) => ({
    ...test,
    status: 'failed',
    result: event.result,
    summary: event.summary ?? null,
    longrepr: event.longrepr ?? null,
    sections: event.sections ?? [],
    subtests: event.subtests ?? [],
    duration: event.duration ?? null,
  }));
  attempts.push(test);
  return attempts;
}

/**
 * The tabs and the chosen attempt's parts; `renderAttempt(attempt)` gives those parts.
 * A test run once gets no tabs: just its parts.
 */
export function attemptsSection(test, renderAttempt) {
  if (test.attempts.length === 0) return renderAttempt(test);
  const attempts = attemptsOf(test);
  const panel = el('div', { className: 'attempt-panel', role: 'tabpanel' });
  const tabs = el('div', { className: 'attempt-tabs', role: 'tablist', 'aria-label': 'Attempts' });
  const show = (index) => {
    chosenAttempt.set(test.id, index);
    tabs.querySelectorAll('[role="tab"]').forEach((tab, i) => {
      tab.setAttribute('aria-selected', String(i === index));
      tab.classList.toggle('selected', i === index);
    });
    panel.replaceChildren(...renderAttempt(attempts[index]).filter((part) => part !== null));
  };
  attempts.forEach((attempt, index) => {
    const last = index === attempts.length - 1;
    const outcome = last ? test.status : 'failed';
    const tab = el('button', {
      type: 'button', role: 'tab', className: `attempt-tab status-${outcome}`,
      'data-testid': 'attempt-tab', dataset: { attempt: String(index + 1), outcome },
    }, el('span', { className: 'dot' }), `Attempt ${index + 1} · ${last ? test.status : 'failed, run again'}`);
    tab.addEventListener('click', () => show(index));
    tabs.append(tab);
  });
  const index = Math.min(chosenAttempt.get(test.id) ?? attempts.length - 1, attempts.length - 1);
  show(index);
  return [el('section', { className: 'detail-section attempts' },
    el('h3', { text: `${attempts.length} attempts` }), tabs, panel)];
}
