// Press-and-hold: an action (acknowledge) fires only after the button has been held for `ms` (1.5 s), so a
// brush against a touch wall screen does nothing. The hold lives on the button element and its closure, not in
// the table's data: keyed patching never replaces the button, so a live update in the middle of a press
// cannot interrupt it. Works with a mouse, a finger (pointer events) and the keyboard (Space/Enter held).
export const HOLD_MS = 1500

/**
 * Make `button` a hold-to-act control. `action()` returns a promise; while it runs the button is busy.
 * The button's --hold custom property runs 0 → 1 over the hold (the CSS draws the progress from it).
 */
export function holdButton(button, action, ms = HOLD_MS) {
  let timer = null
  let started = 0
  let busy = false
  const cancel = () => {
    if (timer === null) return
    clearTimeout(timer)
    timer = null
    button.classList.remove('holding')
    button.style.removeProperty('--hold-ms')
  }
  const start = () => {
    if (busy || timer !== null || button.disabled) return
    started = performance.now()
    button.style.setProperty('--hold-ms', `${ms}ms`)
    button.classList.add('holding')
    timer = setTimeout(async () => {
      timer = null
      button.classList.remove('holding')
      busy = true
      button.classList.add('busy')
      button.dataset.heldMs = String(Math.round(performance.now() - started))
      try {
        await action()
      } finally {
        busy = false
        button.classList.remove('busy')
      }
    }, ms)
  }
  button.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return
    button.setPointerCapture?.(e.pointerId)
    start()
  })
  for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) button.addEventListener(ev, cancel)
  button.addEventListener('keydown', (e) => {
    if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
      e.preventDefault()
      start()
    }
  })
  button.addEventListener('keyup', (e) => {
    if (e.key === ' ' || e.key === 'Enter') cancel()
  })
  // A click alone does nothing (the hold is the action); stop the form/parent from treating it as one.
  button.addEventListener('click', (e) => e.preventDefault())
  button.addEventListener('contextmenu', (e) => e.preventDefault())
}
