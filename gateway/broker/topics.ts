/** MQTT topic filters: matching a topic (compiled once) and whether one filter covers another (ACLs). */

/** A topic filter compiled once to a regular expression (matching runs for every message). */
export function compileFilter(filter: string): RegExp {
  const parts = filter.split('/').map((p) => (p === '+' ? '[^/]*' : p === '#' ? '.*' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  let re = parts.join('/')
  // `a/#` also matches `a` itself.
  if (filter.endsWith('/#')) re = `${parts.slice(0, -1).join('/')}(?:/.*)?`
  return new RegExp(`^${re}$`)
}

/** Whether `filter` starts with a wildcard: such a filter does not match `$SYS/...` topics (MQTT 3.1.1 4.7.2). */
export function wildcardFirst(filter: string): boolean {
  return filter === '#' || filter === '+' || filter.startsWith('+/')
}

/**
 * Whether every topic `sub` (a subscription filter) can match is matched by `acl`: a subscription is
 * granted only where the ACL covers all of it (`city/d1/#` covers `city/d1/+/x`, not `city/#`).
 */
export function covers(acl: string, sub: string): boolean {
  const a = acl.split('/')
  const s = sub.split('/')
  if (sub.startsWith('$') && (a[0] === '+' || a[0] === '#')) return false
  for (let i = 0; i < a.length; i++) {
    const al = a[i]!
    if (al === '#') return true
    const sl = s[i]
    // The subscription is shorter (`a/#` covering `a` returned above).
    if (sl === undefined) return false
    if (sl === '#') return false
    if (al === '+') continue
    if (al !== sl) return false
  }
  return a.length === s.length
}
