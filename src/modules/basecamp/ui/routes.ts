/** The page's routes, in the URL's fragment (no DOM here: tests run it in Node). */

/** `modules`, `logs`, `trace` or `module/<name>` from `#/<route>`, or undefined for anything else. */
export function routeOf (hash: string): string | undefined {
  const m = /^#\/(modules|logs|trace|module\/[a-z0-9-]+)$/.exec(hash)
  return m === null ? undefined : m[1]
}
