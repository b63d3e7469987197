// When the app's modules fail to load, the page tries again by itself.
// A network change or a dropped connection during the load makes the browser
// fail every request in flight (Chromium: net::ERR_NETWORK_CHANGED, common on
// a phone moving between Wi-Fi and 4G), and a module graph with one failed
// import never runs: the page would stay empty. A classic script loaded
// before the module: once the page has loaded, if app.js has not run
// (it sets window.__palabreBooted), reload, up to 3 times in a minute, then
// say so. The address is kept as it is (an invite's fragment too).
(function () {
  'use strict';
  var KEY = 'palabre.bootRetries';
  var MAX = 3, WINDOW_MS = 60000, DELAY_MS = 1000;

  function read() {
    try {
      var v = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      return v && Date.now() - v.since < WINDOW_MS ? v : { n: 0, since: Date.now() };
    } catch (e) { return { n: 0, since: Date.now() }; }
  }

  window.addEventListener('load', function () {
    if (window.__palabreBooted) {
      try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
      return;
    }
    var tries = read();
    if (tries.n < MAX) {
      tries.n += 1;
      try { sessionStorage.setItem(KEY, JSON.stringify(tries)); } catch (e) { /* storage off */ }
      setTimeout(function () { location.reload(); }, DELAY_MS);
      return;
    }
    var main = document.getElementById('main');
    if (main) {
      var p = document.createElement('p');
      p.className = 'container';
      p.setAttribute('role', 'alert');
      p.textContent = 'Palabre n\u2019a pas pu se charger (r\u00e9seau) : rechargez la page. / ' +
        'Palabre could not load (network): reload the page.';
      main.appendChild(p);
    }
  });
})();
