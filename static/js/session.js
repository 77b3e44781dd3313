// Shows whether the live connection is up (htmx ws extension events).
(function () {
  function mark(state) {
    var el = document.getElementById('ws-indicator');
    if (el) { el.dataset.state = state; el.title = state === 'open' ? 'Live' : 'Reconnecting…'; }
  }
  document.addEventListener('htmx:wsOpen', function () { mark('open'); });
  document.addEventListener('htmx:wsClose', function () { mark('closed'); });
  document.addEventListener('htmx:wsError', function () { mark('closed'); });
})();
