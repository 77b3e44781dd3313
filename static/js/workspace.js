// The lab page's workspace: resizable and collapsible panes (remembered in localStorage), the
// guide's stepper following the checks, and the editor's buttons. Delegated listeners only: the
// page carries no inline script or event handler (Content-Security-Policy).

// Panes: guide | editor | live view. Widths are percents of the workspace, set as CSS custom
// properties (the narrow layout's stylesheet ignores them and stacks the panes).
(function () {
  var workspace = document.querySelector('[data-workspace]');
  if (!workspace) return;
  var STORE = 'liveops.workspace';
  var COLLAPSED = '2.75rem';
  var LIMITS = { guide: [15, 50], live: [20, 60] };
  var layout = { guide: 27, live: 38, collapsed: { guide: false, editor: false, live: false } };
  try {
    var saved = JSON.parse(localStorage.getItem(STORE) || 'null');
    if (saved) {
      ['guide', 'live'].forEach(function (k) { if (typeof saved[k] === 'number') layout[k] = clamp(k, saved[k]); });
      if (saved.collapsed) ['guide', 'editor', 'live'].forEach(function (k) { layout.collapsed[k] = !!saved.collapsed[k]; });
    }
  } catch (e) { /* no storage, or not ours: defaults */ }

  function clamp(which, value) { return Math.min(LIMITS[which][1], Math.max(LIMITS[which][0], Math.round(value))); }
  function save() { try { localStorage.setItem(STORE, JSON.stringify(layout)); } catch (e) { /* private mode */ } }

  function apply() {
    var c = layout.collapsed;
    var columns = {
      guide: c.guide ? COLLAPSED : layout.guide + '%',
      editor: c.editor ? COLLAPSED : 'minmax(0, 1fr)',
      live: c.live ? COLLAPSED : layout.live + '%'
    };
    // The editor takes what is left; when it is folded, the live view (or else the guide) does.
    if (c.editor) {
      if (!c.live) columns.live = 'minmax(0, 1fr)';
      else if (!c.guide) columns.guide = 'minmax(0, 1fr)';
    }
    Object.keys(columns).forEach(function (k) { workspace.style.setProperty('--' + k + '-col', columns[k]); });
    ['guide', 'editor', 'live'].forEach(function (k) {
      var pane = workspace.querySelector('[data-pane="' + k + '"]');
      var button = pane && pane.querySelector('[data-pane-toggle]');
      if (!pane || !button) return;
      pane.classList.toggle('is-collapsed', c[k]);
      var body = document.getElementById(button.getAttribute('aria-controls'));
      if (body) body.hidden = c[k];
      button.setAttribute('aria-expanded', c[k] ? 'false' : 'true');
      var name = pane.getAttribute('data-pane') === 'live' ? 'the live view' : 'the ' + k;
      button.querySelector('.visually-hidden').textContent = (c[k] ? 'Expand ' : 'Collapse ') + name;
      button.title = (c[k] ? 'Expand ' : 'Collapse ') + name;
    });
    workspace.querySelectorAll('[data-separator]').forEach(function (sep) {
      var which = sep.dataset.separator;
      sep.setAttribute('aria-valuenow', String(layout[which]));
      sep.setAttribute('aria-valuetext', layout[which] + ' percent of the width');
      sep.hidden = c[which] || (which === 'guide' ? c.editor && c.live : c.editor && c.guide);
    });
  }

  function resize(which, value) {
    layout[which] = clamp(which, value);
    apply();
    save();
  }

  workspace.addEventListener('click', function (event) {
    var button = event.target.closest('[data-pane-toggle]');
    if (!button) return;
    var which = button.dataset.paneToggle;
    layout.collapsed[which] = !layout.collapsed[which];
    apply();
    save();
  });

  // The separators: arrow keys move them by 2 % (Shift: 10 %), Home and End to the limits.
  workspace.addEventListener('keydown', function (event) {
    var sep = event.target.closest && event.target.closest('[data-separator]');
    if (!sep) return;
    var which = sep.dataset.separator, step = event.shiftKey ? 10 : 2;
    // The guide's separator is its right edge; the live view's is its left edge.
    var grow = which === 'guide' ? 'ArrowRight' : 'ArrowLeft', shrink = which === 'guide' ? 'ArrowLeft' : 'ArrowRight';
    var value = null;
    if (event.key === grow || event.key === 'ArrowUp') value = layout[which] + step;
    else if (event.key === shrink || event.key === 'ArrowDown') value = layout[which] - step;
    else if (event.key === 'Home') value = LIMITS[which][0];
    else if (event.key === 'End') value = LIMITS[which][1];
    if (value === null) return;
    event.preventDefault();
    resize(which, value);
  });

  // Dragging a separator with a mouse, a pen or a finger.
  workspace.addEventListener('pointerdown', function (event) {
    var sep = event.target.closest('[data-separator]');
    if (!sep) return;
    event.preventDefault();
    sep.setPointerCapture(event.pointerId);
    sep.classList.add('is-dragging');
    var which = sep.dataset.separator;
    function move(e) {
      var box = workspace.getBoundingClientRect();
      var percent = which === 'guide' ? (e.clientX - box.left) / box.width * 100 : (box.right - e.clientX) / box.width * 100;
      layout[which] = clamp(which, percent);
      apply();
    }
    function up() {
      sep.classList.remove('is-dragging');
      sep.removeEventListener('pointermove', move);
      sep.removeEventListener('pointerup', up);
      sep.removeEventListener('pointercancel', up);
      save();
    }
    sep.addEventListener('pointermove', move);
    sep.addEventListener('pointerup', up);
    sep.addEventListener('pointercancel', up);
  });

  apply();
})();

// The guide's stepper: the current step is the first one not behind the student, from the checks
// reached (the same rule as labs/live/stepper.py); it follows the checklist as the WebSocket
// redraws it. Previous / Next and the step numbers browse the steps.
(function () {
  var stepper = document.querySelector('[data-stepper]');
  if (!stepper) return;
  var steps = Array.prototype.slice.call(stepper.querySelectorAll('article[data-step]'));
  var followed = Number(stepper.dataset.current) || 0;
  var shown = followed;

  function reached(key) {
    var check = document.querySelector('#checklist [data-check="' + key + '"]');
    if (!check) return false;
    // A check once reached keeps its time, even when the cluster no longer shows it.
    if (check.dataset.reached) return check.dataset.reached === 'true';
    return check.dataset.state === 'passed' || !!check.querySelector('.check-when time');
  }
  function checksOf(i) { return (steps[i].dataset.checks || '').split(' ').filter(Boolean); }
  function done(i) {
    var own = checksOf(i);
    if (own.length && own.every(reached)) return true;
    for (var j = i + 1; j < steps.length; j++) if (checksOf(j).some(reached)) return true;
    return false;
  }
  function current() {
    for (var i = 0; i < steps.length; i++) if (!done(i)) return i;
    return Math.max(steps.length - 1, 0);
  }
  function draw() {
    steps.forEach(function (article, i) { article.hidden = i !== shown; });
    stepper.querySelector('[data-step-number]').textContent = String(shown + 1);
    stepper.querySelector('[data-step-go="previous"]').disabled = shown === 0;
    stepper.querySelector('[data-step-go="next"]').disabled = shown === steps.length - 1;
    stepper.querySelectorAll('[data-step-mark]').forEach(function (mark) {
      var i = Number(mark.dataset.stepMark), isDone = done(i), button = mark.querySelector('button');
      mark.classList.toggle('is-done', isDone);
      mark.classList.toggle('is-current', i === followed);
      mark.classList.toggle('is-shown', i === shown);
      if (i === followed) button.setAttribute('aria-current', 'step'); else button.removeAttribute('aria-current');
      button.querySelector('[aria-hidden]').textContent = isDone ? '✔' : String(i + 1);
      button.querySelector('[data-step-state]').textContent = isDone ? ' (done)' : i === followed ? ' (current)' : '';
    });
    stepper.dataset.current = String(followed);
  }
  function follow() {
    var now = current();
    if (now !== followed) { followed = now; shown = now; }
    draw();
  }
  stepper.addEventListener('click', function (event) {
    var button = event.target.closest('[data-step-go]');
    if (!button) return;
    var go = button.dataset.stepGo;
    shown = go === 'previous' ? shown - 1 : go === 'next' ? shown + 1 : Number(go);
    shown = Math.min(steps.length - 1, Math.max(0, shown));
    draw();
  });
  document.addEventListener('htmx:wsAfterMessage', follow);
  document.addEventListener('htmx:oobAfterSwap', function (event) {
    if (event.target && event.target.id === 'checklist') follow();
  });
  follow();
})();

// The editor's toolbar: insert the lab's examples.
document.addEventListener('click', function (event) {
  var button = event.target.closest('[data-insert-example]');
  if (button && window.LiveOpsEditor) window.LiveOpsEditor.insertExample(button.dataset.insertExample);
});

// htmx drops answers that are not 2xx: say why the text was not checked, never nothing.
(function () {
  var form = document.getElementById('manifest-form'), box = document.getElementById('request-error');
  if (!form || !box) return;
  function fromEditor(event) { var elt = event.detail && event.detail.elt; return elt && form.contains(elt); }
  function n(value) { return Number(value).toLocaleString('en-US'); }
  function explain(status) {
    var text = document.getElementById('manifest').value, encoder = new TextEncoder();
    var bytes = encoder.encode(text).length;
    var sent = encoder.encode(new URLSearchParams({ manifest: text }).toString()).length;
    var labMax = Number(form.dataset.maxBytes) || 0, uploadMax = Number(form.dataset.uploadLimit) || 0;
    var http = status ? ' (HTTP ' + status + ')' : '';
    if (status === 413 || (uploadMax && sent > uploadMax)) {
      return 'The server refused the text before checking it' + http + ': it is ' + n(bytes) + ' bytes of UTF-8' +
        (sent > bytes ? ' (' + n(sent) + ' bytes as sent in the form)' : '') + ', and the server takes at most ' +
        (uploadMax ? n(uploadMax) + ' bytes' : 'less') + ' in one request. This lab accepts manifests of at most ' +
        n(labMax) + ' bytes: keep only the Deployment and the Service the lab asks for.';
    }
    if (!status) return 'The server could not be reached, so the text was not checked: check your connection and try again.';
    if (status === 403) return 'The server refused the request' + http + ': your login or this page may have expired. Copy your text, then reload the page.';
    return 'The server could not check the text' + http + ': try again in a moment, or reload the page if it keeps failing.';
  }
  function show(status) { box.textContent = explain(status); box.hidden = false; }
  document.addEventListener('htmx:responseError', function (event) { if (fromEditor(event)) show(event.detail.xhr.status); });
  document.addEventListener('htmx:sendError', function (event) { if (fromEditor(event)) show(0); });
  document.addEventListener('htmx:afterRequest', function (event) {
    if (fromEditor(event) && event.detail.successful) { box.hidden = true; box.textContent = ''; }
  });
})();

// A validation the editor fires for the text just sent (by Apply, Dry run, Check or an earlier validation)
// would only replace that answer, e.g. Apply's "nothing was applied": skip it. The Check button always asks.
(function () {
  var form = document.getElementById('manifest-form'), textarea = document.getElementById('manifest');
  if (!form || !textarea) return;
  var lastSent = null;
  document.addEventListener('htmx:beforeRequest', function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !form.contains(elt)) return;
    if (elt === textarea && textarea.value === lastSent) { event.preventDefault(); return; }
    lastSent = textarea.value;
  });
})();
