/**
 * What the router did, in words a user reads: the experts' shares of the mix, or why the query
 * stayed with the base. The API and the web page show this instead of raw similarities.
 */
import { BASE, DEFAULT_NEIGHBOURS, decisionWeights, type RoutingDecision, type RoutingRule } from "./types.js";

const pct = (x: number): string => `${Math.round(x * 100)}%`;
const name = (c: string): string => (c === BASE ? "the base model" : c);

export function explainDecision(d: RoutingDecision, rule: RoutingRule): string {
  if (rule.aggregate === "knn") return explainKnn(d, rule);
  const ranked = Object.entries(d.scores)
    .filter(([, s]) => Number.isFinite(s))
    .sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0) return "";
  const [top, topScore] = ranked[0]!;
  if (d.stayedWithBase === "out-of-domain") {
    return `No expert fits this query: the closest pilots (${name(top)}, similarity ${topScore.toFixed(2)}) are below the ${rule.minScore} an expert needs, so the base model answers.`;
  }
  const mix = Object.entries(decisionWeights(d)).filter(([, w]) => w >= 0.005).sort((a, b) => b[1] - a[1]);
  if (mix.length > 1) return `A mix: ${mix.map(([c, w]) => `${name(c)} ${pct(w)}`).join(", ")} (by how close each one's pilots are).`;
  if (d.expert === BASE) {
    if (top !== BASE && rule.baseBias) return `${top}'s pilots are closest, but not by the margin an expert must beat the base by (${rule.baseBias}), so the base model answers.`;
    return "The base model's pilots are closest: no expert is expected to do better on this query.";
  }
  const base = d.scores[BASE];
  return `Routed to ${d.expert}: its pilots are the closest${base !== undefined && Number.isFinite(base) ? ` (similarity ${d.scores[d.expert]!.toFixed(2)} vs the base's ${base.toFixed(2)})` : ""}.`;
}

/** The knn rule's scores are each candidate's expected nDCG@10 on queries like this one (its nearest training queries, and their domains with domainShare): say that. */
function explainKnn(d: RoutingDecision, rule: RoutingRule): string {
  const ranked = Object.entries(d.scores)
    .filter(([, s]) => Number.isFinite(s))
    .sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0) return "";
  const k = rule.neighbours ?? DEFAULT_NEIGHBOURS;
  // With domain gains the expert's estimate also reads whole domains the neighbours come from.
  // With the linear domain model, the domains are the ones the query itself reads as.
  const near = !rule.domainShare ? `the ${k} most similar training queries` : rule.domainModel === "linear" ? `the ${k} most similar training queries and the domains this query reads as` : `the ${k} most similar training queries and their domains`;
  if (d.stayedWithBase === "out-of-domain") {
    return `No expert fits this query: even ${near} are not similar enough (an expert needs a mean similarity of ${rule.minScore}), so the base model answers.`;
  }
  const mix = Object.entries(decisionWeights(d)).filter(([, w]) => w >= 0.005).sort((a, b) => b[1] - a[1]);
  const score = (c: string): string => (d.scores[c] !== undefined && Number.isFinite(d.scores[c]!) ? d.scores[c]!.toFixed(2) : "?");
  const base = d.scores[BASE];
  const againstBase = (c: string): string => `on ${near} it scored nDCG@10 ${score(c)}${base !== undefined && Number.isFinite(base) ? ` against the base model's ${score(BASE)}` : ""}`;
  // A hard decision with an expert share: one expert, blended with the base by the rule, not by the scores.
  const led = mix.find(([c]) => c === d.expert);
  if (mix.length === 2 && !rule.temperature && rule.expertShare !== undefined && d.expert !== BASE && led && mix.some(([c]) => c === BASE)) {
    return `Routed to ${d.expert} (${pct(led[1])} of the mix, the rest the base model's, which steadies an expert): ${againstBase(d.expert)}.`;
  }
  if (mix.length > 1) return `A mix: ${mix.map(([c, w]) => `${name(c)} ${pct(w)}`).join(", ")}, by how well each did on ${near} (nDCG@10 ${mix.map(([c]) => score(c)).join(" vs ")}).`;
  const [top] = ranked[0]!;
  if (d.expert === BASE) {
    const margin = d.margin ?? rule.baseBias;
    if (top !== BASE && margin) return `On ${near}, ${top} did a little better (nDCG@10 ${score(top)} vs ${score(BASE)}), but not by the margin an expert must beat the base by (${margin}), so the base model answers.`;
    return `On ${near}, no expert did better than the base model (nDCG@10 ${score(BASE)}).`;
  }
  return `Routed to ${d.expert}: ${againstBase(d.expert)}.`;
}
