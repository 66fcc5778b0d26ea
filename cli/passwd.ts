/**
 * `smartcity passwd FILE USER`: add or update USER's line in the embedded broker's credentials file
 * (`broker.auth.passwordFile`), like `mosquitto_passwd FILE USER`. The password is read from stdin (its
 * first line) or, on a terminal, asked twice without echo. Only the scrypt hash is written; the file is
 * replaced atomically (a temporary file renamed over it) with mode 0600. The gateway reads it again on
 * SIGHUP.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import { hashPassword, parsePasswordFile, upsertPasswordLine } from '../gateway/broker/passwords.ts'

interface Io {
  stdin: NodeJS.ReadStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** One line typed without echo (the terminal in raw mode); Ctrl-C or Ctrl-D gives up. */
function askHidden(io: Io, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = io.stdin
    io.stderr.write(prompt)
    let text = ''
    input.setRawMode(true)
    input.resume()
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return end(undefined)
        if (ch === '\u0003' || ch === '\u0004') return end(new Error('cancelled'))
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1)
        else text += ch
      }
    }
    const end = (err: Error | undefined) => {
      input.off('data', onData)
      input.setRawMode(false)
      input.pause()
      io.stderr.write('\n')
      if (err) reject(err)
      else resolve(text)
    }
    input.on('data', onData)
  })
}

async function readStdinLine(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stdin) {
    text += chunk.toString()
    if (text.includes('\n') || text.length > 4096) break
  }
  return text.split(/\r?\n/)[0] ?? ''
}

export async function runPasswd(file: string | undefined, user: string | undefined, io: Io = process): Promise<number> {
  if (!file || !user) {
    io.stderr.write('usage: smartcity passwd FILE USER   (the password from stdin, or asked on a terminal)\n')
    return 2
  }
  let text = ''
  let mode = 0o600
  try {
    text = await readFile(file, 'utf8')
    mode = (await stat(file)).mode & 0o777 & ~0o077
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      io.stderr.write(`${file}: ${(err as Error).message}\n`)
      return 1
    }
  }
  const parsed = parsePasswordFile(text, file)
  if ('problems' in parsed) {
    io.stderr.write(`${file} is not a credentials file; not changed:\n${parsed.problems.map((p) => `  ${p}`).join('\n')}\n`)
    return 1
  }
  let password: string
  try {
    if (io.stdin.isTTY) {
      password = await askHidden(io, 'Password: ')
      const again = await askHidden(io, 'Reenter password: ')
      if (again !== password) {
        io.stderr.write('passwords do not match; not changed\n')
        return 1
      }
    } else password = await readStdinLine(io.stdin)
  } catch (err) {
    io.stderr.write(`${(err as Error).message}; not changed\n`)
    return 1
  }
  if (password.length === 0) {
    io.stderr.write('empty password; not changed\n')
    return 1
  }
  let out: string
  try {
    out = upsertPasswordLine(text, user, await hashPassword(password))
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, out, { mode })
  await rename(tmp, file)
  io.stdout.write(`${parsed.users.has(user) ? 'updated' : 'added'} ${user} in ${file} (reload the gateway: SIGHUP)\n`)
  return 0
}
