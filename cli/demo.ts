// placeholder replaced below
export async function runDemo(_values: Record<string, string | boolean | undefined>): Promise<number> {
  return 2
}
