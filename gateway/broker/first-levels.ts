/**
 * The first topic levels of a set of MQTT topic filters, counted: what the embedded broker's router and
 * session store consult to tell, without a trie walk, that no filter can match a topic. A topic can only
 * match a filter that starts with its own first level, or with `+` or `#`.
 */
export class FirstLevels {
  private readonly counts = new Map<string, number>()
  private wildcards = 0

  /** Count a filter in (`+1`) or out (`-1`). */
  count(filter: string, d: 1 | -1): void {
    const i = filter.indexOf('/')
    const l = i < 0 ? filter : filter.slice(0, i)
    if (l === '#' || l === '+') {
      this.wildcards += d
      return
    }
    const n = (this.counts.get(l) ?? 0) + d
    if (n > 0) this.counts.set(l, n)
    else this.counts.delete(l)
  }

  /** Whether some counted filter could match `topic`: false only when none starts with its first level. */
  couldMatch(topic: string): boolean {
    if (this.wildcards > 0) return true
    for (const l of this.counts.keys()) {
      if (topic.startsWith(l) && (topic.length === l.length || topic.charCodeAt(l.length) === 0x2f)) return true
    }
    return false
  }
}
