// An object dialog of the live panel follows its object: the page tells the session's socket which
// object its open dialog shows (labs.live.dialogs redraws it, or replaces it by "pod/x was deleted"),
// and tells it again after a reconnect. Closing a dialog removes its content through htmx, which
// closes a followed log's own socket (labs.live.pod_logs), and the socket stops following.
(function () {
  var socket = null; // the session socket (htmx ws extension's wrapper), while open

  function isSessionSocket(elt) {
    return /^\/ws\/sessions\/[^/]+\/$/.test(elt.getAttribute('ws-connect') || '');
  }
  function box() { return document.getElementById('object-dialog'); }
  function tell() {
    if (!socket) return;
    var dialog = box() && box().querySelector('dialog[open][data-follow]');
    socket.send(JSON.stringify(dialog ? { follow: dialog.dataset.follow, view: dialog.dataset.followView }
                                      : { follow: '' }));
  }

  document.addEventListener('htmx:wsOpen', function (event) {
    if (!isSessionSocket(event.target)) return;
    socket = event.detail.socketWrapper;
    tell();
  });
  document.addEventListener('htmx:wsClose', function (event) {
    if (isSessionSocket(event.target)) socket = null;
  });
  document.addEventListener('htmx:afterSwap', function (event) {
    if (event.detail.target === box()) tell();
  });
  // A dialog's "close" event does not bubble: listen while it goes down.
  document.addEventListener('close', function (event) {
    var dialog = event.target;
    if (!dialog.matches || !dialog.matches('dialog.object-view') || !box() || !box().contains(dialog)) return;
    htmx.swap(box(), '', { swapStyle: 'innerHTML' });
    tell();
  }, true);
})();
