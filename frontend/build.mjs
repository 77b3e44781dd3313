// Build the YAML editor bundle into ../static/editor/ (cleaned first):
// editor.js, editor.css, codicon.ttf, editor.worker.js, yaml.worker.js and
// schemas/kubernetes.json (written by export_schemas.py).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..')
const outdir = join(root, 'static', 'editor')

function python () {
  if (process.env.PYTHON) return process.env.PYTHON
  const venv = join(root, '.venv', 'bin', 'python')
  return existsSync(venv) ? venv : 'python3'
}

// Under the page's Content-Security-Policy a <style> element applies only with the page's nonce.
// Monaco 0.52 makes its own <style> elements (themes, decorations, the context view) without one:
// give each the nonce of the page's <meta property="csp-nonce" nonce="...">.
const STYLE_ELEMENT = "document.createElement('style')"
const NONCED_STYLE_ELEMENT = "Object.assign(document.createElement('style'), " +
  "{ nonce: (document.querySelector('meta[property=\"csp-nonce\"]') || {}).nonce || '' })"
const styleNonce = {
  name: 'style-nonce',
  setup (build) {
    build.onLoad({ filter: /monaco-editor[\\/]esm[\\/]vs[\\/]base[\\/]browser[\\/](dom|ui[\\/]contextview[\\/]contextview)\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8')
      if (!source.includes(STYLE_ELEMENT)) throw new Error(`${args.path}: no ${STYLE_ELEMENT} to give the nonce to`)
      return { contents: source.replaceAll(STYLE_ELEMENT, NONCED_STYLE_ELEMENT), loader: 'js' }
    })
  }
}

rmSync(outdir, { recursive: true, force: true })

await build({
  absWorkingDir: here,
  entryPoints: {
    editor: 'src/editor.js',
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'yaml.worker': 'monaco-yaml/yaml.worker.js'
  },
  outdir,
  entryNames: '[name]',
  // Fonts and other assets carry their content hash in their name: cached for good.
  assetNames: '[name]-[hash]',
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2020'],
  loader: { '.ttf': 'file' },
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [styleNonce]
})

execFileSync(python(), [join(here, 'export_schemas.py'), join(outdir, 'schemas', 'kubernetes.json')], {
  stdio: 'inherit'
})

function walk (dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}
let total = 0
for (const file of walk(outdir).sort()) {
  const size = statSync(file).size
  total += size
  console.log(`${String(size).padStart(10)}  ${file.slice(root.length + 1)}`)
}
const gz = gzipSync(readFileSync(join(outdir, 'editor.js')), { level: 9 }).length
console.log(`${String(total).padStart(10)}  total static/editor/`)
console.log(`${String(gz).padStart(10)}  editor.js gzipped`)

// Precompressed copies, served to browsers that accept gzip.
for (const file of walk(outdir)) {
  if (/\.(js|css|json|ttf)$/.test(file)) writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }))
}
