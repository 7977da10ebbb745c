// TimelineScrubber: the slider under the summary that shows a recording, or a finished run,
// as it was after any event. It only reports the seq asked for; LiveView.showAt rebuilds the
// page from the events up to there (the store is pure, so that is re-applying them).

import { setText, formatClock, formatTime } from './dom.js';

// While the slider is dragged, rebuild at most this often (each rebuild re-applies up to the
// whole run's events); the value it is let go at is always shown.
export const SCRUB_THROTTLE_MS = 80;

export class TimelineScrubber {
  /**
   * @param {HTMLElement} root  the `.scrubber` row, holding the range input, the position
   *   text and the back-to-the-end button
   * @param {(seq: number) => void} onScrub  show the run as of event `seq`
   */
  constructor(root, onScrub) {
    this.root = root;
    this.onScrub = onScrub;
    this.input = root.querySelector('[data-testid="timeline-scrubber"]');
    this.position = root.querySelector('[data-testid="scrubber-position"]');
    this.endButton = root.querySelector('[data-testid="scrubber-end"]');
    this.wanted = null;
    this.timer = null;
    this.input.addEventListener('input', () => this.request(Number(this.input.value), SCRUB_THROTTLE_MS));
    this.input.addEventListener('change', () => this.request(Number(this.input.value), 0));
    this.endButton.addEventListener('click', () => {
      this.input.value = this.input.max;
      this.request(Number(this.input.max), 0);
    });
  }

  request(seq, delayMs) {
    this.wanted = seq;
    if (this.timer !== null && delayMs > 0) return; // the pending rebuild will take the latest value
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onScrub(this.wanted);
    }, delayMs);
  }

  /**
   * @param {{available: boolean, first: number, latest: number, shown: number,
   *   shownAt: string|null, startAt: string|null}} state  the seq range the run has, the seq
   *   shown, its event's timestamp and the run's start
   */
  update({ available, first, latest, shown, shownAt, startAt }) {
    this.root.hidden = !available;
    if (!available) return;
    this.input.min = String(first);
    this.input.max = String(latest);
    // Never move the thumb under the user's pointer: only once the rebuild asked for is shown.
    if (this.timer === null) this.input.value = String(shown);
    const past = shown < latest;
    this.root.classList.toggle('scrubbed', past);
    this.endButton.hidden = !past;
    const parts = [`event ${shown.toLocaleString('en')} of ${latest.toLocaleString('en')}`];
    if (shownAt) parts.push(formatTime(shownAt));
    const offset = shownAt && startAt ? (Date.parse(shownAt) - Date.parse(startAt)) / 1000 : NaN;
    if (Number.isFinite(offset)) parts.push(`+${formatClock(offset)}`);
    setText(this.position, `${past ? 'As of ' : ''}${parts.join(' · ')}`);
  }
}
