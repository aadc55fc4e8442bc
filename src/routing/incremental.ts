/**
 * Adding or removing an expert without rebuilding anything (METHOD.md: "adding one only adds
 * rows to the router's pilot library"). The labels keep every old candidate's per-query
 * nDCG@10, so adding an expert needs only that expert's scores on the same training queries
 * (`scoreExpertOnLabels`: one encoder call, for the new expert only, over the stored query
 * texts; the corpus indexes are reused as they are). Every query's best candidate is then
 * recomputed under the same tie and all-zero rules and the pilots are regrouped. Removing an
 * expert drops its scores and regroups its queries to their next-best candidate. Because the
 * library is a pure function of the labels, add-then-remove gives back the original library.
 */
import { RouterRetrieverError } from "../errors.js";
import { ignoreIdenticalIdsFor } from "../evaluation/evaluate.js";
import { libraryFromLabels, relabel, type BuiltPilotLibrary, type DomainCorpus, type PilotLabels } from "./pilots.js";
import { checkIndexModel, scoreVectors, type CandidateEncoder } from "./scores.js";
import { BASE, type PilotLibrary } from "./types.js";

/** Domain -> queryId -> nDCG@10 of one candidate. */
export type DomainScores = ReadonlyMap<string, ReadonlyMap<string, number>>;

export interface ScoreExpertOnLabelsInput {
  readonly encoder: CandidateEncoder;
  readonly labels: PilotLabels;
  /** The corpora the labels were scored on, by domain name. */
  readonly domains: readonly DomainCorpus[];
  readonly expertId: string;
  readonly batchSize?: number;
}

/** The new expert's nDCG@10 on exactly the labelled training queries; one encoder call in total. */
export async function scoreExpertOnLabels(input: ScoreExpertOnLabelsInput): Promise<DomainScores> {
  const { encoder, labels, expertId } = input;
  const corpora = new Map(input.domains.map((d) => [d.name, d]));
  for (const { name } of labels.domains) {
    const c = corpora.get(name);
    if (!c) throw new RouterRetrieverError("NOT_FOUND", `no corpus given for domain "${name}" of the pilot labels`);
    checkIndexModel(c.index, labels.baseModelId);
  }
  const items = labels.labels;
  const vecs = await encoder.encode(
    items.map((l) => l.text),
    expertId,
    { batchSize: input.batchSize },
  );
  const d = labels.dims;
  const out = new Map<string, Map<string, number>>();
  for (const { name } of labels.domains) {
    const rows: number[] = [];
    items.forEach((l, i) => {
      if (l.domain === name) rows.push(i);
    });
    const v = new Float32Array(rows.length * d);
    rows.forEach((r, j) => v.set(vecs.subarray(r * d, (r + 1) * d), j * d));
    const corpus = corpora.get(name)!;
    const table = scoreVectors({
      index: corpus.index,
      queries: rows.map((r) => ({ id: items[r]!.queryId, text: items[r]!.text })),
      qrels: corpus.qrels,
      vectors: new Map([[expertId, v]]),
      ignoreIdenticalIds: corpus.ignoreIdenticalIds ?? ignoreIdenticalIdsFor(name),
    });
    out.set(name, table.get(expertId)!);
  }
  return out;
}

export interface AddExpertOptions {
  /** The domain this expert was trained for: it becomes that domain's own expert (tie rule). */
  readonly domain?: string;
}

/** Adds a candidate from its per-query scores alone; old candidates are not re-scored. */
export function addExpertToLibrary(
  lib: PilotLibrary,
  labels: PilotLabels,
  expertId: string,
  newScores: DomainScores,
  opts: AddExpertOptions = {},
): BuiltPilotLibrary {
  checkPair(lib, labels);
  if (expertId === "" || expertId === BASE) throw new RouterRetrieverError("BAD_INPUT", `cannot add "${expertId}" as an expert`);
  if (labels.candidates.includes(expertId)) throw new RouterRetrieverError("CONFLICT", `expert "${expertId}" is already in the pilot library`);
  let domains = labels.domains;
  if (opts.domain !== undefined) {
    const dom = domains.find((d) => d.name === opts.domain);
    if (!dom) throw new RouterRetrieverError("NOT_FOUND", `domain "${opts.domain}" is not in the pilot labels`);
    if (dom.expert !== undefined) throw new RouterRetrieverError("CONFLICT", `domain "${opts.domain}" already has its own expert "${dom.expert}"`);
    domains = domains.map((d) => (d.name === opts.domain ? { name: d.name, expert: expertId } : d));
  }
  const items = labels.labels.map((l) => {
    const s = newScores.get(l.domain)?.get(l.queryId);
    if (s === undefined || !Number.isFinite(s)) {
      throw new RouterRetrieverError("NOT_FOUND", `no score of "${expertId}" for training query ${l.domain}/${l.queryId}`);
    }
    return { ...l, scores: { ...l.scores, [expertId]: s } };
  });
  const next = relabel({ ...labels, candidates: [...labels.candidates, expertId], domains, labels: items });
  return { library: libraryFromLabels(next), labels: next };
}

/** Drops a candidate; its queries fall to their next-best candidate under the same rules. */
export function removeExpertFromLibrary(lib: PilotLibrary, labels: PilotLabels, expertId: string): BuiltPilotLibrary {
  checkPair(lib, labels);
  if (expertId === BASE) throw new RouterRetrieverError("BAD_INPUT", `"${BASE}" cannot be removed: the router must always be able to choose the base model`);
  if (!labels.candidates.includes(expertId)) throw new RouterRetrieverError("NOT_FOUND", `expert "${expertId}" is not in the pilot library`);
  if (labels.candidates.length === 1) throw new RouterRetrieverError("BAD_INPUT", `"${expertId}" is the library's only candidate`);
  const domains = labels.domains.map((d) => (d.expert === expertId ? { name: d.name } : d));
  const items = labels.labels.map((l) => {
    const scores: Record<string, number> = {};
    for (const [c, s] of Object.entries(l.scores)) if (c !== expertId) scores[c] = s;
    return { ...l, scores };
  });
  const next = relabel({ ...labels, candidates: labels.candidates.filter((c) => c !== expertId), domains, labels: items });
  return { library: libraryFromLabels(next), labels: next };
}

/** The library must be the one these labels describe; otherwise the regrouping would silently replace it. */
function checkPair(lib: PilotLibrary, labels: PilotLabels): void {
  const same =
    lib.baseModelId === labels.baseModelId &&
    lib.dims === labels.dims &&
    lib.experts.length === labels.candidates.length &&
    lib.experts.every((e, i) => e === labels.candidates[i]);
  if (!same) {
    throw new RouterRetrieverError(
      "CONFLICT",
      `pilot library (${lib.baseModelId}, experts ${lib.experts.join(", ")}) does not match its labels (${labels.baseModelId}, candidates ${labels.candidates.join(", ")})`,
    );
  }
}
