/**
 * A short excerpt for a hit: a window of the document text that starts shortly before the first
 * query word (3+ letters) it contains, or the beginning of the text when none occurs. Cheap and
 * deterministic; semantic hits often share no word with the query, hence the fallback.
 */
const WINDOW = 240;
const LEAD = 60;

export function snippet(text: string, query: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= WINDOW) return flat;
  const lower = flat.toLowerCase();
  const words = query.toLowerCase().match(/[\p{L}\p{N}_]{3,}/gu) ?? [];
  let at = -1;
  for (const w of words) {
    const i = lower.indexOf(w);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  let start = at < 0 ? 0 : Math.max(0, at - LEAD);
  if (start > 0) {
    const space = flat.indexOf(" ", start);
    if (space >= 0 && space < at) start = space + 1;
  }
  const end = Math.min(flat.length, start + WINDOW);
  return (start > 0 ? "…" : "") + flat.slice(start, end) + (end < flat.length ? "…" : "");
}
