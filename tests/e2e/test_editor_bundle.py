"""The YAML editor bundle (static/editor/) in real Chromium, on a plain static page.

Build the bundle first: cd frontend && npm ci && npm run build
"""

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from tests.manifests import LAB_MANIFEST

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "static" / "editor"
BUNDLE_FILES = ["editor.js", "editor.css", "editor.worker.js", "yaml.worker.js", "schemas/kubernetes.json"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: nginx
          image: nginx:1.27
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 80
"""

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Editor bundle test</title></head>
<body>
  <form id="manifest-form" method="post" action="/submit">
    <button type="button" id="before-editor">Insert example</button>
    <label for="id_manifest">Manifest</label>
    <textarea id="id_manifest" name="manifest" rows="20">{initial}</textarea>
    <div data-yaml-editor data-target="id_manifest"></div>
    <button type="button" id="after-editor">Check</button>
  </form>
  <ul id="problems"></ul>
  <script type="application/json" id="yaml-examples">{examples}</script>
  <script src="/static/editor/editor.js" defer></script>
</body>
</html>
"""

INITIAL = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def bundle():
    missing = [name for name in BUNDLE_FILES if not (BUNDLE / name).is_file()]
    if missing:
        pytest.fail(
            f"The editor bundle is not built (missing in {BUNDLE}: {', '.join(missing)}). "
            "Build it with: cd frontend && npm ci && npm run build",
            pytrace=False,
        )
    return BUNDLE


@pytest.fixture(scope="module")
def site(bundle, tmp_path_factory):
    """A static site on 127.0.0.1: the test page at / and the bundle under /static/."""
    folder = tmp_path_factory.mktemp("editor-site")
    examples = json.dumps({"Deployment": DEPLOYMENT, "Service": SERVICE}).replace("</", "<\\/")
    (folder / "index.html").write_text(PAGE.format(initial=INITIAL, examples=examples))
    (folder / "static").symlink_to(ROOT / "static", target_is_directory=True)
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def editor_page(chromium, site):
    """A fresh tab on the test page, once the editor is drawn."""
    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site)
    page.wait_for_selector("[data-yaml-editor] .monaco-editor .view-lines", timeout=15000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def markers(page, owner=None):
    """Markers of the editor's model, optionally only those of one owner."""
    return page.evaluate(
        """(owner) => {
            const ed = window.LiveOpsEditor
            const all = ed.monaco.editor.getModelMarkers({resource: ed.model.uri})
            return all.filter((m) => owner === null || m.owner === owner)
                      .map((m) => ({owner: m.owner, source: m.source, line: m.startLineNumber,
                                    severity: m.severity, message: m.message}))
        }""",
        owner,
    )


def schema_markers(page):
    return [m for m in markers(page) if m["owner"] != "LiveOps"]


def test_it_shows_the_textarea_text_in_the_editor(editor_page):
    page = editor_page
    assert page.locator("#id_manifest").is_hidden()
    assert page.evaluate("window.LiveOpsEditor.getValue()") == INITIAL
    lines = page.locator("[data-yaml-editor] .view-lines").inner_text()
    assert "kind: Deployment" in lines.replace("\u00a0", " ")
    box = page.locator("[data-yaml-editor]").bounding_box()
    assert box["height"] >= 400


def test_it_copies_typing_into_the_textarea_and_announces_the_change(editor_page):
    page = editor_page
    page.evaluate(
        """() => {
            window.changes = []
            document.getElementById('id_manifest').addEventListener(
                'yaml-editor:change', (e) => window.changes.push(e.detail.value))
        }"""
    )
    page.locator("[data-yaml-editor] .view-lines").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# typed here")
    assert page.locator("#id_manifest").input_value().endswith("# typed here")
    page.wait_for_function("window.changes.length > 0", timeout=10000)
    page.wait_for_timeout(600)
    # Debounced: far fewer events than keystrokes (one, unless the machine stalls), the last with the final text.
    changes = page.evaluate("window.changes")
    assert changes[-1] == INITIAL + "# typed here"
    assert len(changes) <= 3
    form_value = page.evaluate("new FormData(document.getElementById('manifest-form')).get('manifest')")
    assert form_value == INITIAL + "# typed here"


def test_it_appends_an_example_as_a_new_document(editor_page):
    page = editor_page
    assert page.evaluate("window.LiveOpsEditor.insertExample('Service')") is True
    value = page.locator("#id_manifest").input_value()
    assert value == INITIAL + "---\n" + SERVICE
    cursor_line = page.evaluate("window.LiveOpsEditor.editor.getPosition().lineNumber")
    assert cursor_line == INITIAL.count("\n") + 2  # the example's first line, after "---"
    assert page.evaluate("window.LiveOpsEditor.insertExample('Nope')") is False


def test_it_fills_an_empty_editor_with_an_example(editor_page):
    page = editor_page
    page.evaluate("window.LiveOpsEditor.setValue('')")
    page.evaluate("window.LiveOpsEditor.insertExample('Deployment')")
    assert page.locator("#id_manifest").input_value() == DEPLOYMENT


def test_it_shows_server_problems_as_markers(editor_page):
    page = editor_page
    page.evaluate(
        """window.LiveOpsEditor.setProblems([
            {line: 3, column: 1, severity: 'error', message: 'Labels do not match', hint: 'Use app: web'},
            {line: 2, column: null, severity: 'warning', message: 'Check the kind', hint: ''},
            {line: null, column: null, severity: 'error', message: 'No Service yet', hint: ''}
        ])"""
    )
    found = sorted(markers(page, "LiveOps"), key=lambda m: m["line"])
    assert [(m["line"], m["source"]) for m in found] == [(2, "LiveOps"), (3, "LiveOps")]
    assert found[1]["message"] == "Labels do not match\nUse app: web"
    assert found[1]["severity"] == 8 and found[0]["severity"] == 4  # MarkerSeverity.Error / Warning
    page.wait_for_selector("[data-yaml-editor] .squiggly-error", timeout=15000)

    # New server problems replace the previous ones.
    page.evaluate("window.LiveOpsEditor.setProblems([{line: 1, severity: 'warning', message: 'Only this'}])")
    assert [m["line"] for m in markers(page, "LiveOps")] == [1]


def test_it_takes_problems_from_events_and_swapped_html(editor_page):
    page = editor_page
    page.evaluate(
        """document.dispatchEvent(new CustomEvent('liveops:problems',
            {detail: [{line: 4, column: 3, severity: 'error', message: 'From event'}]}))"""
    )
    assert [(m["line"], m["message"]) for m in markers(page, "LiveOps")] == [(4, "From event")]

    page.evaluate(
        """() => {
            const target = document.getElementById('problems')
            target.innerHTML = '<script type="application/json" data-problems>' +
                JSON.stringify([{line: 2, column: 1, severity: 'warning', message: 'From swap'}]) + '<\\/script>'
            target.dispatchEvent(new CustomEvent('htmx:afterSwap', {bubbles: true, detail: {target}}))
        }"""
    )
    assert [(m["line"], m["message"]) for m in markers(page, "LiveOps")] == [(2, "From swap")]

    page.evaluate("window.LiveOpsEditor.revealLine(3)")
    assert page.evaluate("window.LiveOpsEditor.editor.getPosition().lineNumber") == 3


def test_it_reports_unknown_fields_from_the_kubernetes_schema(editor_page):
    page = editor_page
    text = DEPLOYMENT.replace("  replicas: 3", "  replica: 3") + "---\n" + SERVICE.replace(
        "  type: LoadBalancer", "  type: LoadBalancer\n  replicas: 2"
    )
    page.evaluate("(text) => window.LiveOpsEditor.setValue(text)", text)
    page.wait_for_function(
        """() => {
            const ed = window.LiveOpsEditor
            const found = ed.monaco.editor.getModelMarkers({resource: ed.model.uri})
                .filter((m) => m.owner !== 'LiveOps' && /not allowed/i.test(m.message))
            return found.length >= 2
        }""",
        timeout=10000,
    )
    lines = text.splitlines()
    found = {m["line"]: m["message"] for m in schema_markers(page)}
    deployment_line = lines.index("  replica: 3") + 1
    service_line = lines.index("  replicas: 2") + 1
    assert "replica" in found[deployment_line]
    assert "replicas" in found[service_line]
    # The Deployment's own spec.replicas is fine in the first document: only the typo is flagged.
    assert sorted(found) == [deployment_line, service_line], found

    # A valid Deployment + Service has no schema problems.
    page.evaluate("(text) => window.LiveOpsEditor.setValue(text)", DEPLOYMENT + "---\n" + SERVICE)
    page.wait_for_function(
        """() => {
            const ed = window.LiveOpsEditor
            return ed.monaco.editor.getModelMarkers({resource: ed.model.uri})
                .filter((m) => m.owner !== 'LiveOps').length === 0
        }""",
        timeout=10000,
    )


def test_it_completes_field_names_with_descriptions(editor_page):
    page = editor_page
    page.evaluate("(text) => window.LiveOpsEditor.setValue(text)", DEPLOYMENT.replace("  replicas: 3\n", "  \n"))
    # Wait until the schema is in use (a valid document, no markers), then ask for completions in spec.
    page.evaluate("window.LiveOpsEditor.loadSchema()")
    page.evaluate("window.LiveOpsEditor.editor.setPosition({lineNumber: 6, column: 3})")
    page.evaluate("window.LiveOpsEditor.editor.focus()")
    page.keyboard.type("rep")
    page.keyboard.press("Control+Space")
    suggestion = page.locator(".suggest-widget .monaco-list-row", has_text="replicas")
    suggestion.first.wait_for(timeout=10000)
    details = page.locator(".suggest-details")
    for _ in range(3):  # Ctrl+Space toggles the details pane; under load the first press may come too early
        if details.is_visible():
            break
        page.keyboard.press("Control+Space")
        try:
            details.wait_for(timeout=5000)
        except PlaywrightTimeoutError:
            continue
    expect(details).to_contain_text("Number of desired pods", timeout=10000)


# --- Typing as a student does: the text is exactly what was typed -------------------------

COUNT_SUGGESTIONS = """() => {
    window.suggestionsShown = 0
    new MutationObserver(() => {
        const widget = document.querySelector('.suggest-widget')
        if (!widget) return
        const visible = widget.classList.contains('visible')
        if (visible && !widget.__counted) window.suggestionsShown += 1
        widget.__counted = visible
    }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['class']})
}"""


def _empty_editor(page):
    page.evaluate("window.LiveOpsEditor.setValue('')")
    page.evaluate("window.LiveOpsEditor.loadSchema()")  # completions come from the Kubernetes schema
    page.locator("[data-yaml-editor] .view-lines").click()
    page.keyboard.press("Control+End")


def test_it_keeps_a_manifest_typed_line_by_line_exactly_as_typed(editor_page):
    page = editor_page
    _empty_editor(page)
    page.evaluate(COUNT_SUGGESTIONS)
    for line in LAB_MANIFEST.splitlines():
        page.keyboard.type(line, delay=20)  # the indentation typed as written, as a student copies the guide
        page.keyboard.press("Enter")
    assert page.evaluate("window.LiveOpsEditor.getValue()") == LAB_MANIFEST
    assert page.locator("#id_manifest").input_value() == LAB_MANIFEST
    # Completions did pop up while typing, and none of them took an Enter.
    assert page.evaluate("window.suggestionsShown") > 0


def test_it_starts_a_new_line_on_enter_while_completions_are_open(editor_page):
    page = editor_page
    _empty_editor(page)
    page.keyboard.type("apiVersion: apps/v1\nkind: Deployment\nspec:\n  rep")
    page.keyboard.press("Control+Space")
    expect(page.locator(".suggest-widget .monaco-list-row", has_text="replicas").first).to_be_visible(timeout=10000)
    page.keyboard.press("Enter")
    assert page.evaluate("window.LiveOpsEditor.getValue()") == "apiVersion: apps/v1\nkind: Deployment\nspec:\n  rep\n"


def test_it_takes_a_completion_with_tab(editor_page):
    page = editor_page
    _empty_editor(page)
    page.keyboard.type("apiVersion: apps/v1\nkind: Deployment\nspec:\n  repl")
    page.keyboard.press("Control+Space")
    expect(page.locator(".suggest-widget .monaco-list-row", has_text="replicas").first).to_be_visible(timeout=10000)
    page.keyboard.press("Tab")
    assert page.evaluate("window.LiveOpsEditor.getValue()").startswith(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas:")


def test_it_does_not_add_closing_quotes_or_brackets(editor_page):
    page = editor_page
    _empty_editor(page)
    page.keyboard.type('  args: ["nginx", "-g"]\n  name: "web"\n')
    assert page.evaluate("window.LiveOpsEditor.getValue()") == '  args: ["nginx", "-g"]\n  name: "web"\n'


def test_it_pastes_text_as_it_is(editor_page):
    page = editor_page
    _empty_editor(page)
    page.keyboard.type("    ")  # the cursor in an indented position: the paste must not be re-indented
    page.evaluate(
        """(text) => {
            const data = new DataTransfer()
            data.setData('text/plain', text)
            const target = document.querySelector('[data-yaml-editor] textarea')
            target.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}))
        }""",
        LAB_MANIFEST,
    )
    assert page.evaluate("window.LiveOpsEditor.getValue()") == "    " + LAB_MANIFEST


def test_it_lets_keyboard_users_leave_the_editor_and_says_how(editor_page):
    page = editor_page
    hint = page.get_by_test_id("editor-keys-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("Esc, then Tab")
    expect(hint).to_contain_text("Ctrl+M")
    described_by = page.locator("[data-yaml-editor] textarea").get_attribute("aria-describedby")
    assert described_by == page.evaluate("document.querySelector('[data-testid=editor-keys-hint]').id")

    _empty_editor(page)
    page.keyboard.press("Tab")  # inside the editor, Tab indents
    assert page.evaluate("window.LiveOpsEditor.getValue()") == "  "
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "after-editor"

    page.locator("[data-yaml-editor] .view-lines").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "before-editor"

    # Ctrl+M: Tab moves the focus until Ctrl+M is pressed again.
    page.locator("[data-yaml-editor] .view-lines").click()
    page.keyboard.press("Control+m")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "after-editor"
    page.locator("[data-yaml-editor] .view-lines").click()
    page.keyboard.press("Control+m")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('[data-yaml-editor]') !== null")
