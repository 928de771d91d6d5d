// npm's own extraction, as an oracle for airlock's archive readers: pacote.extract (the code
// `npm install` unpacks a tarball with: node-tar, strip 1, links dropped, .gitignore renamed)
// from the npm that runs this script. Usage: node extract.js CASES.json, where CASES.json is a
// list of {id, path, kind}; prints {id: {"pacote.extract": {status, files | error}}} as
// extract.py does. Each tarball is extracted into its own sandbox, deep inside it, so an escape
// shows as a "../" path.
'use strict'
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const { execFileSync } = require('child_process')

// The pacote of the npm on PATH, wherever that npm is installed (nodejs.org and nvm put it under
// `npm root -g`; Debian under /usr/share/nodejs, with pacote beside npm).
function loadPacote () {
  const tried = []
  const candidates = []
  if (process.env.AIRLOCK_NPM_ROOT) candidates.push(process.env.AIRLOCK_NPM_ROOT)
  try {
    const cli = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm']).toString().trim())
    candidates.push(path.resolve(path.dirname(cli), '..'))
  } catch {}
  try {
    candidates.push(path.join(execFileSync('npm', ['root', '-g']).toString().trim(), 'npm'))
  } catch {}
  for (const root of candidates) {
    for (const dir of [path.join(root, 'node_modules'), path.dirname(root)]) {
      const p = path.join(dir, 'pacote')
      tried.push(p)
      if (fs.existsSync(path.join(p, 'package.json'))) return require(p)
    }
  }
  throw new Error('npm\'s pacote not found (tried ' + tried.join(', ') + '); set AIRLOCK_NPM_ROOT to the npm package directory')
}

const pacote = loadPacote()

function walk (top, dest, files) {
  for (const name of fs.readdirSync(top)) {
    const full = path.join(top, name)
    if (name === 'input' && top === dest.split('/w/')[0]) continue
    const st = fs.lstatSync(full)
    const rel = path.relative(dest, full)
    if (st.isSymbolicLink()) {
      try {
        const real = fs.statSync(full)
        files[rel] = real.isDirectory() ? 'symlink-to-dir' : sha(full)
      } catch {
        files[rel] = 'dangling:' + fs.readlinkSync(full)
      }
    } else if (st.isDirectory()) {
      walk(full, dest, files)
    } else {
      files[rel] = sha(full)
    }
  }
  return files
}

function sha (file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

function remove (dir) {
  // pacote may still be writing its cache when extract resolves: cleanup is best effort.
  try { fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 }) } catch {}
}

async function one (archive) {
  const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-oracle-'))
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-oracle-cache-'))
  const dest = path.join(sandbox, 'w', 'x', 'y', 'z', 'dest')
  fs.mkdirSync(dest, { recursive: true })
  try {
    await pacote.extract('file:' + archive, dest, { cache })
    return { status: 'ok', files: walk(sandbox, dest, {}) }
  } catch (e) {
    return { status: 'refused', error: String(e && e.message).slice(0, 300) }
  } finally {
    remove(sandbox)
    remove(cache)
  }
}

async function main () {
  const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
  const out = {}
  for (const c of cases) {
    if (c.kind !== 'npm') continue
    out[c.id] = { 'pacote.extract': await one(c.path) }
  }
  process.stdout.write(JSON.stringify(out))
}

main().catch(e => { console.error(e); process.exit(1) })
