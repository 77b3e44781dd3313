// YAML editor for the lab page: Monaco + monaco-yaml with the Kubernetes
// Deployment/Service schema. See frontend/README.md for the page contract.
import * as monaco from './monaco.js'
import { configureMonacoYaml } from 'monaco-yaml'
import './editor.css'

const SERVER_OWNER = 'LiveOps'
const CHANGE_EVENT = 'yaml-editor:change'
const CHANGE_DELAY_MS = 400

// Folder holding editor.js, its workers, stylesheet and schema.
const scriptSrc = (document.currentScript && document.currentScript.src) || ''

function assetBase () {
  const marked = document.querySelector('[data-editor-base]')
  if (marked) return new URL(marked.getAttribute('data-editor-base'), document.baseURI).href
  let src = scriptSrc
  if (!src) {
    const script = document.querySelector('script[src*="editor.js"]')
    src = script ? script.src : document.baseURI
  }
  return new URL('.', src).href
}

const base = assetBase()
// The page loads editor.js with its content version (`?v=...`): every asset it fetches carries the same
// version, so browsers may keep them all for good and fetch them again only after a new build.
const version = (function () {
  try { return new URL(scriptSrc || document.querySelector('script[src*="editor.js"]').src).search } catch (e) { return '' }
})()

function startWorker (url) {
  if (new URL(url).origin === location.origin) return new Worker(url)
  // Static files on another origin (CDN): load through a same-origin blob.
  const blob = new Blob([`importScripts(${JSON.stringify(url)});`], { type: 'text/javascript' })
  return new Worker(URL.createObjectURL(blob))
}

self.MonacoEnvironment = {
  getWorkerUrl (moduleId, label) {
    return base + (label === 'yaml' ? 'yaml.worker.js' : 'editor.worker.js') + version
  },
  getWorker (moduleId, label) {
    return startWorker(this.getWorkerUrl(moduleId, label))
  }
}

function ensureStylesheet () {
  const href = base + 'editor.css' + version
  const links = document.querySelectorAll('link[rel="stylesheet"]')
  for (const link of links) {
    if (link.href === href || /\/editor(\.[0-9a-f]+)?\.css(\?.*)?$/.test(link.href)) return
  }
  const link = document.createElement('link')
  link.rel = 'stylesheet'
  link.href = href
  document.head.appendChild(link)
}

monaco.editor.defineTheme('liveops-light', {
  base: 'vs',
  inherit: true,
  rules: [
    { token: 'type', foreground: '0550ae' },
    { token: 'string', foreground: '0a3069' },
    { token: 'number', foreground: '953800' },
    { token: 'keyword', foreground: 'cf222e' },
    { token: 'comment', foreground: '6e7781', fontStyle: 'italic' }
  ],
  colors: {
    'editor.background': '#ffffff',
    'editor.lineHighlightBackground': '#f6f8fa',
    'editor.lineHighlightBorder': '#f6f8fa',
    'editorLineNumber.foreground': '#8c959f',
    'editorLineNumber.activeForeground': '#24292f',
    'editorGutter.background': '#ffffff',
    'editorIndentGuide.background1': '#eaeef2',
    'editorWidget.border': '#d0d7de'
  }
})

const SCHEMA_URL = base + 'schemas/kubernetes.json' + version
const yaml = configureMonacoYaml(monaco, {
  enableSchemaRequest: false,
  validate: true,
  completion: true,
  hover: true,
  format: { enable: true },
  schemas: []
})

// The schema (about 230 kB) is loaded once, after the editor shows.
let schemaLoad = null
function loadSchema () {
  if (!schemaLoad) {
    schemaLoad = fetch(SCHEMA_URL)
      .then((response) => {
        if (!response.ok) throw new Error(`${SCHEMA_URL}: HTTP ${response.status}`)
        return response.json()
      })
      .then((schema) => yaml.update({
        schemas: [{ uri: SCHEMA_URL, fileMatch: ['*'], schema }]
      }))
      .catch((error) => console.warn('LiveOps editor: no Kubernetes schema', error))
  }
  return schemaLoad
}

// A student who types a manifest line by line (often copying it from the guide,
// indentation included) must get exactly the text typed:
// - Enter always starts a new line: a completion is taken only with Tab or a
//   click, never with Enter or a commit character (otherwise "apps/v1" + Enter
//   became "apps/v1kind: ..." on one line);
// - Enter does not indent the new line (the student types the indentation; with
//   the default the editor's and the student's spaces added up, line after line);
//   Tab still indents by two spaces;
// - no closing quote or bracket is added, nothing is reformatted on type or paste.
const TYPING_OPTIONS = {
  acceptSuggestionOnEnter: 'off',
  acceptSuggestionOnCommitCharacter: false,
  suggestOnTriggerCharacters: true,
  tabCompletion: 'off',
  snippetSuggestions: 'inline',
  autoIndent: 'none',
  formatOnType: false,
  formatOnPaste: false,
  autoClosingBrackets: 'never',
  autoClosingQuotes: 'never',
  autoClosingComments: 'never',
  autoClosingDelete: 'never',
  autoClosingOvertype: 'never',
  autoSurround: 'never',
  trimAutoWhitespace: false
}

// How a keyboard user leaves the editor, shown under it.
const KEYS_HINT = 'Tab indents inside the editor. To leave it with the keyboard: press Esc, then Tab ' +
  '(Shift+Tab goes back), or press Ctrl+M to make Tab move focus (Ctrl+M again to switch back). ' +
  'Completions are taken with Tab or a click; Enter always starts a new line.'

function isTabbable (node) {
  if (node.disabled || node.hidden || node.tabIndex < 0) return false
  if (node.closest('[hidden], [inert]')) return false
  const style = getComputedStyle(node)
  if (style.visibility === 'hidden' || style.display === 'none') return false
  return node.getClientRects().length > 0
}

const TABBABLE = 'a[href], button, input, select, textarea, summary, iframe, [tabindex], [contenteditable="true"]'

// Focus the next (or previous) focusable element of the page outside `container`.
function leaveEditor (container, backwards) {
  const all = Array.from(document.querySelectorAll(TABBABLE))
    .filter((node) => !container.contains(node) && isTabbable(node))
  const after = all.filter((node) => container.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING)
  const before = all.filter((node) => container.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_PRECEDING)
  const target = backwards ? before[before.length - 1] : after[0]
  if (target) {
    target.focus()
    return true
  }
  return false
}

// Esc, then Tab (or Shift+Tab), moves the focus out of the editor. Esc first
// closes what is open (completions, find); any other key disarms.
function escapeThenTab (editor, container) {
  let armed = false
  editor.onKeyDown((event) => {
    if (event.keyCode === monaco.KeyCode.Escape) {
      armed = true
      return
    }
    if (event.keyCode === monaco.KeyCode.Tab && armed && !event.ctrlKey && !event.altKey && !event.metaKey) {
      armed = false
      if (leaveEditor(container, event.shiftKey)) {
        event.preventDefault()
        event.stopPropagation()
      }
      return
    }
    if (![monaco.KeyCode.Shift, monaco.KeyCode.Ctrl, monaco.KeyCode.Alt, monaco.KeyCode.Meta].includes(event.keyCode)) {
      armed = false
    }
  })
  editor.onDidBlurEditorText(() => { armed = false })
}

function addKeysHint (element, textarea) {
  const id = `${textarea.id || 'liveops-editor'}-keys`
  let hint = document.getElementById(id)
  if (!hint) {
    hint = document.createElement('p')
    hint.id = id
    hint.className = 'liveops-editor-keys'
    hint.setAttribute('data-testid', 'editor-keys-hint')
    hint.textContent = KEYS_HINT
    element.insertAdjacentElement('afterend', hint)
  }
  return hint
}

let counter = 0
const mounted = [] // { element, textarea, editor, model }

function primary () {
  return mounted.find((item) => document.contains(item.element)) || mounted[0] || null
}

function mount (element) {
  if (element.__liveopsEditor) return element.__liveopsEditor
  const textarea = document.getElementById(element.getAttribute('data-target') || '')
  if (!textarea) {
    console.warn('LiveOps editor: no textarea for', element)
    return null
  }
  counter += 1
  const model = monaco.editor.createModel(
    textarea.value,
    'yaml',
    monaco.Uri.parse(`file:///liveops/manifest-${counter}.yaml`)
  )
  element.classList.add('liveops-yaml-editor')
  textarea.hidden = true
  textarea.style.display = 'none'

  const label = textarea.id && document.querySelector(`label[for="${CSS.escape(textarea.id)}"]`)
  const editor = monaco.editor.create(element, {
    model,
    theme: 'liveops-light',
    automaticLayout: true,
    minimap: { enabled: false },
    tabSize: 2,
    insertSpaces: true,
    detectIndentation: false,
    fontSize: 14,
    lineHeight: 21,
    scrollBeyondLastLine: false,
    renderWhitespace: 'boundary',
    fixedOverflowWidgets: true,
    quickSuggestions: { other: true, comments: false, strings: true },
    wordBasedSuggestions: 'off',
    // What the student types is what the text gets (see TYPING_OPTIONS).
    ...TYPING_OPTIONS,
    padding: { top: 8, bottom: 8 },
    ariaLabel: (label && label.textContent.trim()) || 'Kubernetes manifest (YAML)'
  })

  escapeThenTab(editor, element)
  const hint = addKeysHint(element, textarea)
  const textArea = element.querySelector('textarea')
  if (textArea) textArea.setAttribute('aria-describedby', hint.id)

  let timer = null
  model.onDidChangeContent(() => {
    textarea.value = model.getValue()
    clearTimeout(timer)
    timer = setTimeout(() => {
      textarea.dispatchEvent(new CustomEvent(CHANGE_EVENT, {
        bubbles: true,
        detail: { value: textarea.value }
      }))
    }, CHANGE_DELAY_MS)
  })
  // A form reset puts the textarea back to its initial text: follow it.
  if (textarea.form) {
    textarea.form.addEventListener('reset', () => {
      setTimeout(() => { if (textarea.value !== model.getValue()) model.setValue(textarea.value) })
    })
  }

  const item = { element, textarea, editor, model }
  element.__liveopsEditor = item
  mounted.push(item)
  loadSchema()
  return item
}

function toMarker (model, problem) {
  const lineCount = model.getLineCount()
  const line = Math.min(Math.max(parseInt(problem.line, 10) || 1, 1), lineCount)
  const maxColumn = model.getLineMaxColumn(line)
  let column = parseInt(problem.column, 10)
  if (!column || column < 1) column = model.getLineFirstNonWhitespaceColumn(line) || 1
  column = Math.min(column, maxColumn)
  const message = problem.hint ? `${problem.message}\n${problem.hint}` : String(problem.message || '')
  return {
    severity: problem.severity === 'warning' ? monaco.MarkerSeverity.Warning : monaco.MarkerSeverity.Error,
    message,
    source: SERVER_OWNER,
    startLineNumber: line,
    startColumn: column,
    endLineNumber: line,
    endColumn: column < maxColumn ? maxColumn : column + 1
  }
}

function setProblems (problems) {
  const item = primary()
  if (!item) return false
  const list = Array.isArray(problems) ? problems : (problems && problems.problems) || []
  const markers = list
    .filter((problem) => problem && problem.line != null && problem.line !== '')
    .map((problem) => toMarker(item.model, problem))
  monaco.editor.setModelMarkers(item.model, SERVER_OWNER, markers)
  return true
}

function readExamples () {
  const node = document.getElementById('yaml-examples')
  if (!node) return {}
  try {
    return JSON.parse(node.textContent) || {}
  } catch (error) {
    console.warn('LiveOps editor: bad #yaml-examples JSON', error)
    return {}
  }
}

function insertExample (kind) {
  const item = primary()
  if (!item) return false
  let example = readExamples()[kind]
  if (typeof example !== 'string' || !example.trim()) return false
  if (!example.endsWith('\n')) example += '\n'
  const { editor, model } = item
  const current = model.getValue()
  let text = example
  if (current.trim()) {
    let prefix = current.endsWith('\n') ? '' : '\n'
    const endsWithSeparator = /(^|\n)---[ \t]*\n?[\s]*$/.test(current)
    if (!endsWithSeparator) prefix += '---\n'
    text = prefix + example
  }
  const lastLine = model.getLineCount()
  const lastColumn = model.getLineMaxColumn(lastLine)
  const range = current.trim()
    ? new monaco.Range(lastLine, lastColumn, lastLine, lastColumn)
    : model.getFullModelRange()
  editor.pushUndoStop()
  editor.executeEdits('liveops-example', [{ range, text, forceMoveMarkers: true }])
  editor.pushUndoStop()
  const exampleLines = example.split('\n').length - 1
  const startLine = Math.max(1, model.getLineCount() - exampleLines)
  editor.setPosition({ lineNumber: startLine, column: 1 })
  editor.revealLineNearTop(startLine)
  editor.focus()
  return true
}

function getValue () {
  const item = primary()
  return item ? item.model.getValue() : null
}

function setValue (text) {
  const item = primary()
  if (!item) return false
  item.editor.pushUndoStop()
  item.editor.executeEdits('liveops-set', [{ range: item.model.getFullModelRange(), text: String(text ?? '') }])
  item.editor.pushUndoStop()
  return true
}

function revealLine (line) {
  const item = primary()
  if (!item) return false
  const target = Math.min(Math.max(parseInt(line, 10) || 1, 1), item.model.getLineCount())
  item.editor.revealLineInCenter(target)
  item.editor.setPosition({ lineNumber: target, column: item.model.getLineFirstNonWhitespaceColumn(target) || 1 })
  item.editor.focus()
  return true
}

// Problems pushed by the server inside <script type="application/json" data-problems>.
function applyProblemBlocks () {
  const blocks = Array.from(document.querySelectorAll('[data-problems]'))
    .filter((node) => !node.__liveopsApplied)
  if (!blocks.length || !primary()) return
  let problems = []
  for (const node of blocks) {
    node.__liveopsApplied = true
    try {
      const data = JSON.parse(node.textContent || '[]')
      problems = problems.concat(Array.isArray(data) ? data : (data && data.problems) || [])
    } catch (error) {
      console.warn('LiveOps editor: bad data-problems JSON', error)
    }
  }
  setProblems(problems)
}

function mountAll (root) {
  const scope = root && root.querySelectorAll ? root : document
  const elements = Array.from(scope.querySelectorAll('[data-yaml-editor]'))
  if (scope.matches && scope.matches('[data-yaml-editor]')) elements.unshift(scope)
  if (!elements.length) return
  ensureStylesheet()
  elements.forEach(mount)
  applyProblemBlocks()
}

window.LiveOpsEditor = {
  setProblems,
  insertExample,
  getValue,
  setValue,
  revealLine,
  loadSchema,
  get editor () { const item = primary(); return item ? item.editor : null },
  get model () { const item = primary(); return item ? item.model : null },
  monaco
}

document.addEventListener('liveops:problems', (event) => setProblems(event.detail))
document.addEventListener('htmx:afterSwap', applyProblemBlocks)
document.addEventListener('htmx:oobAfterSwap', applyProblemBlocks)
document.addEventListener('htmx:load', (event) => mountAll(event.target))

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', () => mountAll(document))
} else {
  mountAll(document)
}
