// Keyed DOM patching: the page changes what changed and leaves the rest alone, so an element an operator
// is pressing (an acknowledge button held for 1.5 s) is never replaced by a live update.
// patchList keeps `parent`'s children in the order of `items`, one element per key (data-key): new keys get
// create(item), every kept or new element gets update(el, item), elements whose key is gone are removed.
export function patchList(parent, items, key, create, update) {
  const old = new Map()
  for (const el of parent.children) old.set(el.dataset.key, el)
  let ref = parent.firstElementChild
  for (const item of items) {
    const k = key(item)
    let el = old.get(k)
    if (el) old.delete(k)
    else {
      el = create(item)
      el.dataset.key = k
    }
    update(el, item)
    if (el === ref) ref = ref.nextElementSibling
    else parent.insertBefore(el, ref)
  }
  for (const el of old.values()) el.remove()
}

/** Set a node's text only when it differs (no layout work for an unchanged value). */
export function setText(el, text) {
  const s = text ?? ''
  if (el.textContent !== s) el.textContent = s
}

export function setAttr(el, name, value) {
  if (value === undefined || value === null || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name)
  } else if (el.getAttribute(name) !== String(value)) el.setAttribute(name, String(value))
}

/** document.createElement with a class and optional text. */
export function h(tag, className, text) {
  const el = document.createElement(tag)
  if (className) el.className = className
  if (text !== undefined) el.textContent = text
  return el
}
