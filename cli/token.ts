/**
 * `smartcity token --name NAME --scopes read,operate`: a new HTTP API token (32 random bytes, base64url)
 * and the lines to add under `http.tokens` in the gateway configuration. The token is printed once; the
 * configuration keeps only its SHA-256, so a copy of the file gives nobody access (docs/security.md).
 */
import { parseArgs } from 'node:util'
import { newToken } from '../gateway/http/auth.ts'
import { SCOPES, Scope, TokenName } from '../gateway/http/config.ts'

export const TOKEN_USAGE = `usage: smartcity token --name NAME --scopes SCOPE[,SCOPE...]

print a new HTTP API token and the configuration lines for it (http.tokens); the token is shown once,
the configuration keeps only its SHA-256

flags:
  --name NAME            who the token is for (the audit log and alarm acknowledgements show it)
  --scopes LIST          ${SCOPES.join(', ')} (comma-separated; not nested: list each one the token needs)
`

export function runToken(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  let values: { name?: string | undefined; scopes?: string | undefined; help?: boolean | undefined }
  try {
    ;({ values } = parseArgs({ args: argv, options: { name: { type: 'string' }, scopes: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }))
  } catch (e) {
    err.write(`${(e as Error).message}\n${TOKEN_USAGE}`)
    return 2
  }
  if (values.help) {
    out.write(TOKEN_USAGE)
    return 0
  }
  const name = TokenName.safeParse(values.name)
  const list = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const scopes = list.map((s) => Scope.safeParse(s))
  const problems: string[] = []
  if (values.name === undefined) problems.push('--name: missing')
  else if (!name.success) problems.push(`--name: ${name.error.issues[0]?.message}`)
  if (list.length === 0) problems.push(`--scopes: missing (one or more of ${SCOPES.join(', ')})`)
  scopes.forEach((s, i) => {
    if (!s.success) problems.push(`--scopes: ${list[i]} is not ${s.error.issues[0]?.message}`)
  })
  if (problems.length > 0) {
    err.write(`${problems.join('\n')}\n${TOKEN_USAGE}`)
    return 2
  }
  const t = newToken()
  const uniq = [...new Set(list)]
  out.write(
    `# token for ${values.name} (shown once; the gateway keeps only its SHA-256):\n${t.token}\n` +
      '# add under http.tokens in the gateway configuration:\n' +
      `  - name: ${values.name}\n    sha256: ${t.sha256}\n    scopes: [${uniq.join(', ')}]\n`,
  )
  return 0
}
