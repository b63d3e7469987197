// The server drains (docs/protocol.md, server_draining): a banner counts down
// to the moment running meetings are closed. The count runs on this
// browser's clock from seconds_left (the server's deadline_ms would carry any
// clock skew). Screen readers hear the sentence when the drain starts and
// then once a minute (the visible seconds are aria-hidden: a polite region
// that changed every second would talk over the meeting).
import { h } from './dom.js';
import { t } from './i18n.js';

function clock(seconds) {
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return m ? t('drain.minSec', { m, s: String(s).padStart(2, '0') }) : t('drain.sec', { s });
}

export function createDrainBanner() {
  const visible = h('p', { class: 'drain-banner__text', 'aria-hidden': 'true' });
  const live = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const el = h('div', { class: 'notice drain-banner', id: 'drain-banner', hidden: true }, visible, live);
  let end = 0, timer = null, lastMinutes = -1;

  function render() {
    const left = Math.max(0, Math.ceil((end - performance.now()) / 1000));
    visible.textContent = left > 0 ? t('drain.text', { time: clock(left) }) : t('drain.now');
    const minutes = Math.ceil(left / 60);
    if (minutes !== lastMinutes) {
      lastMinutes = minutes;
      live.textContent = left > 0 ? t('drain.live', { n: minutes }) : t('drain.now');
    }
    if (left === 0) stop();
  }
  function stop() { clearInterval(timer); timer = null; }

  return {
    el,
    // server_draining {deadline_ms, seconds_left}; again after a reconnect
    show({ seconds_left: secondsLeft }) {
      if (!Number.isFinite(secondsLeft) || secondsLeft < 0) return;
      end = performance.now() + secondsLeft * 1000;
      el.hidden = false;
      render();
      if (!timer && secondsLeft > 0) timer = setInterval(render, 1000);
    },
    stop,
  };
}
