// Announcer: what screen readers are told, through one polite live region: the selection,
// folding, and each failure once (a replay or a reconnect never repeats one). Toasts are
// for the eyes; this is the one voice.

export const ANNOUNCE_BURST = 3;

export class Announcer {
  constructor(region) {
    this.region = region;
    this.announced = new Set(); // failures already said, by test id
    this.timer = null;
    this.pending = [];
  }

  /** Say `text` soon; what is said in the same moment (a frame's failures and the end) is one message. */
  say(text) {
    this.pending.push(text);
    if (this.timer !== null) return;
    // Emptied first, so the same words twice are still read again.
    this.region.textContent = '';
    this.timer = setTimeout(() => {
      this.timer = null;
      this.region.textContent = this.pending.join('. ');
      this.pending = [];
    }, 50);
  }

  /** Tests that failed while the page watched; each is said once, a burst in one sentence. */
  failures(tests) {
    const fresh = tests.filter((test) => !this.announced.has(test.id));
    for (const test of fresh) this.announced.add(test.id);
    if (fresh.length === 0) return;
    if (fresh.length > ANNOUNCE_BURST) this.say(`${fresh.length} tests failed, the first ${fresh[0].name}`);
    else this.say(fresh.map((test) => `${test.status}: ${test.name}`).join('. '));
  }
}
