/** Store locations: a folder, or a postgres:// URL whose credentials must never be shown. */

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The location without user name or password, for messages and logs. */
export function redactStoreLocation(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const u = new URL(location);
    u.username = "";
    u.password = "";
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|key|token/i.test(k)) u.searchParams.set(k, "***");
    return u.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}
