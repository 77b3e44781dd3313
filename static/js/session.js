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
