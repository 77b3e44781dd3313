// The instructor's dashboard: a click in the join link selects it whole, ready to copy
// (a script, not an onclick attribute: the Content-Security-Policy runs no inline handler).
(function () {
  document.addEventListener('click', function (event) {
    var field = event.target.closest && event.target.closest('[data-select-on-click]');
    if (field) field.select();
  });
})();
