// Keeps the AGE of live objects right between updates: every <time data-age>
// shows the time since its datetime, the way kubectl prints durations; and the lab's time left.
(function () {
  if (window.LiveOpsAges) return;
  function human(seconds) {
    if (seconds < -1) return '<invalid>';
    if (seconds < 0) return '0s';
    var s = Math.floor(seconds);
    if (s < 120) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 10) return s % 60 === 0 ? m + 'm' : m + 'm' + (s % 60) + 's';
    if (m < 180) return m + 'm';
    var h = Math.floor(m / 60);
    if (h < 8) return m % 60 === 0 ? h + 'h' : h + 'h' + (m % 60) + 'm';
    if (h < 48) return h + 'h';
    var d = Math.floor(h / 24);
    if (h < 24 * 8) return h % 24 === 0 ? d + 'd' : d + 'd' + (h % 24) + 'h';
    if (h < 24 * 365 * 2) return d + 'd';
    var y = Math.floor(d / 365), dy = d % 365;
    if (h < 24 * 365 * 8) return dy === 0 ? y + 'y' : y + 'y' + dy + 'd';
    return y + 'y';
  }
  function refresh() {
    var now = Date.now();
    document.querySelectorAll('time[data-age]').forEach(function (el) {
      var t = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(t)) el.textContent = human((now - t) / 1000);
    });
  }
  // The lab's time left in the status bar ("N min left", "Ends in N min" once within the lab's warning),
  // counted here from the end time: a status drawn earlier (a kept resync) still says the present.
  function timeLeft() {
    var now = Date.now();
    document.querySelectorAll('[data-expires]').forEach(function (el) {
      var end = Date.parse(el.getAttribute('data-expires'));
      if (isNaN(end)) return;
      var seconds = (end - now) / 1000, minutes = Math.max(0, Math.floor(seconds / 60));
      var warn = el.getAttribute('data-warn-before');
      var soon = warn !== null && seconds < Number(warn) * 60;
      el.className = soon ? 'warning' : 'muted';
      el.textContent = soon ? 'Ends in ' + minutes + ' min' : minutes + ' min left';
    });
  }
  function refreshAll() { refresh(); timeLeft(); }
  window.LiveOpsAges = { human: human, refresh: refreshAll };
  setInterval(refreshAll, 5000);
  document.addEventListener('htmx:wsAfterMessage', refreshAll);
  document.addEventListener('htmx:afterSwap', timeLeft);
  timeLeft();
})();
