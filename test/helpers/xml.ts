/**
 * A small, strict XML reader for the reports tests check (JUnit): elements, attributes, text, the five
 * predefined entities and numeric references, comments and the XML declaration. Throws on anything not
 * well-formed (an unclosed or mismatched tag, an unquoted attribute, text after the root).
 */
export interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
  text: string
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(Number.parseInt(e.slice(2), 16))
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)))
    const v = ENTITIES[e]
    if (v === undefined) throw new Error(`unknown entity ${m}`)
    return v
  })
}

export function parseXml(xml: string): XmlElement {
  let i = 0
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  const name = /[A-Za-z_][\w.-]*/y
  while (i < xml.length) {
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i)
      if (end < 0) throw new Error('unterminated declaration')
      i = end + 2
    } else if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i)
      if (end < 0) throw new Error('unterminated comment')
      i = end + 3
    } else if (xml.startsWith('</', i)) {
      name.lastIndex = i + 2
      const m = name.exec(xml)
      const top = stack.pop()
      if (!m || !top || m[0] !== top.name) throw new Error(`mismatched closing tag at ${i}`)
      i = name.lastIndex
      while (/\s/.test(xml[i] ?? '')) i++
      if (xml[i] !== '>') throw new Error(`bad closing tag at ${i}`)
      i++
    } else if (xml[i] === '<') {
      name.lastIndex = i + 1
      const m = name.exec(xml)
      if (!m) throw new Error(`bad tag at ${i}`)
      if (root && stack.length === 0) throw new Error('a second root element')
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' }
      i = name.lastIndex
      for (;;) {
        while (/\s/.test(xml[i] ?? '')) i++
        if (xml.startsWith('/>', i)) {
          i += 2
          break
        }
        if (xml[i] === '>') {
          i++
          stack.push(el)
          break
        }
        name.lastIndex = i
        const a = name.exec(xml)
        if (!a || xml[name.lastIndex] !== '=' || xml[name.lastIndex + 1] !== '"') throw new Error(`bad attribute at ${i}`)
        const end = xml.indexOf('"', name.lastIndex + 2)
        if (end < 0) throw new Error('unterminated attribute')
        if (a[0] in el.attrs) throw new Error(`duplicate attribute ${a[0]}`)
        el.attrs[a[0]] = decodeEntities(xml.slice(name.lastIndex + 2, end))
        i = end + 1
      }
      const parent = stack[stack.length - (stack[stack.length - 1] === el ? 2 : 1)]
      if (parent) parent.children.push(el)
      else root = el
    } else {
      const end = xml.indexOf('<', i)
      const text = xml.slice(i, end < 0 ? xml.length : end)
      const top = stack[stack.length - 1]
      if (top) top.text += decodeEntities(text)
      else if (text.trim() !== '') throw new Error('text outside the root element')
      i = end < 0 ? xml.length : end
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`)
  if (!root) throw new Error('no root element')
  return root
}
