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
  logLevel: 'warning'
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
