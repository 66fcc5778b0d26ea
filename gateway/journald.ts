/**
 * Log lines for the systemd journal. journald reads a service's stdout line by line and takes a leading
 * `<N>` as the line's syslog priority (sd-daemon(3): "<3>" error ... "<7>" debug; SyslogLevelPrefix= in
 * systemd.exec(5), on by default), so `journalctl -p warning -u smartcity` shows warnings and worse. The
 * JSON after the prefix is unchanged: `journalctl -o cat` still gives pino's lines.
 *
 * `log.format`: `json` never prefixes; `journald` always; `auto` (the default) when stdout is the journal
 * stream, which systemd says through `JOURNAL_STREAM=<device>:<inode>` of that stream (systemd.exec(5):
 * compare it with fstat of the descriptor, since a child that redirected its stdout inherits the variable).
 */
import { fstatSync } from 'node:fs'
import { z } from 'zod'

export const LOG_FORMATS = ['auto', 'json', 'journald'] as const
/** `log.format` of the configuration. */
export const LogFormat = z.enum(LOG_FORMATS, { error: () => `not a log format; one of ${LOG_FORMATS.join(', ')}` })
export type LogFormat = z.infer<typeof LogFormat>

/** pino's numeric levels as syslog priorities (fatal is `crit`: the process exits after it). */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2
  if (pinoLevel >= 50) return 3
  if (pinoLevel >= 40) return 4
  if (pinoLevel >= 30) return 6
  return 7
}

const LEVEL_FIRST = /^\{"level":(\d+)/

/** One pino line with its priority in front; a line that does not start with pino's level stays as it is (journald: info). */
export function journaldLine(line: string): string {
  const m = LEVEL_FIRST.exec(line)
  return m ? `<${syslogPriority(Number(m[1]))}>${line}` : line
}

/** Whether descriptor `fd` is the journal stream systemd connected (JOURNAL_STREAM names its device and inode). */
export function isJournalStream(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const m = /^(\d+):(\d+)$/.exec(env['JOURNAL_STREAM'] ?? '')
  if (!m) return false
  try {
    const st = fstatSync(fd, { bigint: true })
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!)
  } catch {
    return false
  }
}

/** Whether log lines on `fd` get the `<N>` prefix. */
export function useJournald(format: LogFormat, env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  return format === 'journald' || (format === 'auto' && isJournalStream(env, fd))
}
