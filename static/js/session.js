// Behaviour shared by the pages that show a live session (the student's lab page, the instructor's
// views): the connection indicator, the live view's tabs, object dialogs. Delegated listeners only:
// the pages carry no inline script or event handler (Content-Security-Policy).

// A lost live connection is tried again soon, whatever happened before: htmx's own delay doubles up
// to 64 s, so a page that missed a few tries while the server restarted could stay stale for a minute.
// Random within the window (a restarted server is not met by every page at once), never over 4 s.
// (htmx is loaded deferred: it is there once the document is parsed, before it opens any socket.)
document.addEventListener('DOMContentLoaded', function () {
  htmx.config.wsReconnectDelay = function (retryCount) {
    return 200 + Math.random() * Math.min(1000 * Math.pow(2, retryCount), 3800);
  };
});

// Shows in words whether the live connection is up (htmx ws extension events).
(function () {
  var TEXT = { open: 'Live', closed: 'Reconnecting…', ended: 'Lab ended — not live', connecting: 'Connecting…' };
  function ended() {
    return !!document.querySelector('#session-status[data-ended="true"], #session-status.state-ended');
  }
  function mark(state) {
    var el = document.getElementById('ws-indicator');
    if (!el) return;
    if (ended()) state = 'ended';
    el.dataset.state = state;
    el.textContent = TEXT[state];
    el.title = state === 'open' ? 'The page follows the cluster live' : TEXT[state];
  }
  document.addEventListener('htmx:wsOpen', function () { mark('open'); });
  document.addEventListener('htmx:wsClose', function () { mark('closed'); });
  document.addEventListener('htmx:wsError', function () { mark('closed'); });
  // The lab ends while the page is open: the status fragment says so, the indicator follows.
  document.addEventListener('htmx:wsAfterMessage', function () {
    var el = document.getElementById('ws-indicator');
    if (el && ended()) mark('ended');
  });
  var el = document.getElementById('ws-indicator');
  if (el && !el.textContent.trim()) mark(el.dataset.state || 'connecting');
})();

// The live view's tabs: a WAI-ARIA tablist (arrow keys, Home and End move between tabs). The tab
// shown is the panel's data-view; CSS shows the sections of that view, so WebSocket swaps of rows
// and tables never need to know which tab is open.
(function () {
  var STORE = 'liveops.panel.view';
  function tabsOf(panel) { return Array.prototype.slice.call(panel.querySelectorAll('[role=tab]')); }
  function select(panel, tab, focus) {
    tabsOf(panel).forEach(function (t) {
      var on = t === tab;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
    });
    panel.dataset.view = tab.dataset.view;
    var views = panel.querySelector('[role=tabpanel]');
    if (views) views.setAttribute('aria-labelledby', tab.id);
    if (focus) tab.focus();
    try { localStorage.setItem(STORE, tab.dataset.view); } catch (e) { /* private mode */ }
  }
  document.addEventListener('click', function (event) {
    var tab = event.target.closest('[data-live-panel] [role=tab]');
    if (tab) select(tab.closest('[data-live-panel]'), tab, false);
  });
  document.addEventListener('keydown', function (event) {
    var tab = event.target.closest && event.target.closest('[data-live-panel] [role=tab]');
    if (!tab) return;
    var panel = tab.closest('[data-live-panel]'), tabs = tabsOf(panel), i = tabs.indexOf(tab), next = null;
    if (event.key === 'ArrowRight' || event.key === 'ArrowDown') next = tabs[(i + 1) % tabs.length];
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (event.key === 'Home') next = tabs[0];
    else if (event.key === 'End') next = tabs[tabs.length - 1];
    if (!next) return;
    event.preventDefault();
    select(panel, next, true);
  });
  var panel = document.querySelector('[data-live-panel]'), saved = null;
  try { saved = localStorage.getItem(STORE); } catch (e) { /* private mode */ }
  if (panel && saved) {
    var tab = panel.querySelector('[role=tab][data-view="' + saved + '"]');
    if (tab) select(panel, tab, false);
  }
})();

// A panel action the server refuses (4xx/5xx) still shows its answer: it explains what went wrong.
document.addEventListener('htmx:beforeSwap', function (event) {
  var elt = event.target;
  var status = event.detail.xhr && event.detail.xhr.status;
  if (elt && elt.closest && elt.closest('#liveops-panel') && status >= 400 && status < 600) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// "line N" in a problem: show that line in the editor.
document.addEventListener('click', function (event) {
  var button = event.target.closest('[data-line]');
  if (button && window.LiveOpsEditor) window.LiveOpsEditor.revealLine(Number(button.dataset.line));
});

// "Edit YAML in the editor": the server merges the live object into the editor's text.
(function () {
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']; } catch (e) { return ''; }
  }
  function say(text, isError) {
    var box = document.getElementById('object-feedback');
    if (box) { box.textContent = text; box.className = isError ? 'object-feedback error' : 'object-feedback'; }
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-edit-in-editor]');
    if (!button || !window.LiveOpsEditor) return;
    var body = new FormData();
    body.append('manifest', window.LiveOpsEditor.getValue());
    button.disabled = true;
    fetch(button.getAttribute('data-edit-in-editor'), {
      method: 'POST', body: body, credentials: 'same-origin', headers: { 'X-CSRFToken': csrfToken() }
    }).then(function (response) {
      return response.json().catch(function () { return { error: 'The server did not answer as expected (' + response.status + ').' }; });
    }).then(function (data) {
      button.disabled = false;
      if (data.error) { say(data.error, true); return; }
      window.LiveOpsEditor.setValue(data.text);
      window.LiveOpsEditor.revealLine(data.line);
      say(data.message, false);
      var editor = document.querySelector('[data-yaml-editor]');
      if (editor) editor.scrollIntoView({ behavior: 'smooth', block: 'center' });
    }).catch(function () { button.disabled = false; say('The server could not be reached; try again.', true); });
  });
})();
