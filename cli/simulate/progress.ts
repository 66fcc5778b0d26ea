/**
 * What a long `smartcity simulate` run shows while it runs. On a terminal: a status block that log-update
 * redraws in place (devices up, readings acknowledged and stored, faults applied, time left) under the
 * run's event lines, which stay in the scrollback. Anywhere else (a CI log, a pipe): the event lines and
 * one plain status line every few seconds, nothing that moves the cursor.
 */
import type { Writable } from 'node:stream'
import { createLogUpdate } from 'log-update'

export interface ProgressState {
  devicesUp: number
  devicesPlanned: number
  acknowledged: number
  /** Points the gateway's sinks have written (its /metrics), when it can be read. */
  stored?: number | undefined
  faultsApplied: number
  faultsPlanned: number
  /** Milliseconds left; Infinity for a run that lasts until Ctrl-C. */
  leftMs: number
}

export interface Progress {
  /** An event of the run (`[  12s] fault: ...`): kept in the output. */
  line(text: string): void
  /** Redraw the status (terminal) or print it as a plain line (not a terminal: at most every `plainEveryMs`). */
  update(s: ProgressState): void
  /** Leave the last status as it is and stop redrawing. */
  done(): void
  readonly tty: boolean
}

const secs = (ms: number) => (Number.isFinite(ms) ? `${Math.max(0, Math.round(ms / 1000))} s left` : 'until Ctrl-C')

/** The status in words (one line; the terminal view shows the same facts on three). */
export function statusLine(s: ProgressState): string {
  const stored = s.stored === undefined ? '' : `, ${s.stored} points stored`
  return `${s.devicesUp}/${s.devicesPlanned} devices up, ${s.acknowledged} readings acknowledged${stored}, ${s.faultsApplied}/${s.faultsPlanned} faults applied, ${secs(s.leftMs)}`
}

function block(s: ProgressState, elapsedMs: number): string {
  const bar = (done: number, all: number, width = 20) => {
    const n = all > 0 ? Math.round((Math.min(done, all) / all) * width) : width
    return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`
  }
  const total = elapsedMs + s.leftMs
  return [
    `  devices  ${bar(s.devicesUp, s.devicesPlanned)} ${s.devicesUp}/${s.devicesPlanned} up`,
    `  readings ${s.acknowledged} acknowledged${s.stored === undefined ? '' : `, ${s.stored} points stored`}`,
    `  faults   ${s.faultsApplied}/${s.faultsPlanned} applied`,
    `  time     ${Number.isFinite(total) ? `${bar(elapsedMs, total)} ` : ''}${Math.round(elapsedMs / 1000)} s, ${secs(s.leftMs)}`,
  ].join('\n')
}

/**
 * `stream` is where the run writes (stdout); `tty` decides the view (default: the stream is a terminal).
 * `write` is the plain writer used when it is not a terminal (the runner's `out`, so tests can capture it).
 */
export function createProgress(o: { stream?: Writable & { isTTY?: boolean; rows?: number; columns?: number }; tty?: boolean; write: (s: string) => void; t0: number; plainEveryMs?: number; now?: () => number }): Progress {
  const now = o.now ?? Date.now
  const stream = o.stream ?? process.stdout
  // A terminal of no size (a pseudo-terminal nobody sized, as `script` without one makes) would clip the block
  // to nothing: plain lines there.
  const sized = stream as { rows?: number; columns?: number }
  const tty = o.tty ?? (stream.isTTY === true && sized.rows !== 0 && sized.columns !== 0)
  const stamp = (text: string) => `[${String(Math.round((now() - o.t0) / 1000)).padStart(4)}s] ${text}`
  if (!tty) {
    let last = Number.NEGATIVE_INFINITY
    return {
      tty,
      line: (text) => o.write(`${stamp(text)}\n`),
      update(s) {
        if (now() - last < (o.plainEveryMs ?? 5_000)) return
        last = now()
        o.write(`${stamp(statusLine(s))}\n`)
      },
      done() {},
    }
  }
  const view = createLogUpdate(stream, { showCursor: true })
  let current: string | undefined
  let finished = false
  return {
    tty,
    line(text) {
      if (finished) {
        stream.write(`${stamp(text)}\n`)
        return
      }
      // The event goes above the status block, which is drawn again below it.
      view.clear()
      stream.write(`${stamp(text)}\n`)
      if (current !== undefined) view(current)
    },
    update(s) {
      if (finished) return
      current = block(s, now() - o.t0)
      view(current)
    },
    done() {
      if (finished) return
      finished = true
      if (current !== undefined) view.done()
    },
  }
}
