/**
 * `routerretriever search <store> <queries...>`: routed search over a store, exactly as the
 * service answers it (the same RouterRetriever.searchBatch): the router picks an expert per
 * query from the pilot library, the query is embedded with it, and the store returns the top k.
 * Prints the chosen expert and every candidate's routing score with the hits.
 */
import { statSync } from "node:fs";
import { Command } from "commander";
import { isPostgresUrl } from "../../store/location.js";
import { RouterRetriever } from "../../engine/router-retriever.js";
import { RouterRetrieverError } from "../../errors.js";
import { addCommandOptions, EF_SEARCH_OPTION, efSearchFlag, positiveInt, precisionFlag, printJson, BASE_MARGIN_OPTION, ROUTER_OPTION, routerFlag, threadsFlag, type CommonFlags } from "../common.js";

interface SearchFlags extends CommonFlags {
  k: string;
  experts?: string;
  pilots?: string;
  exact?: boolean;
  efSearch?: string;
  router?: string;
  baseMargin?: string;
}

export function searchCommand(): Command {
  return addCommandOptions(
    new Command("search")
      .description("Routed search over a store (folder or postgres:// URL), as the service answers it")
      .argument("<store>", "store folder or postgres:// URL (built by `routerretriever index` or the service)")
      .argument("<queries...>", "query texts")
      .option("-k, --k <n>", "hits per query", "10")
      .option("--experts <dir>", "folder of expert folders (PEFT layout)")
      .option("--pilots <file>", "pilot library file (without one, every query uses the base model)")
      .option("--exact", "PostgreSQL store: exact scan instead of the HNSW index")
      .option(EF_SEARCH_OPTION[0], EF_SEARCH_OPTION[1])
      .option(ROUTER_OPTION[0], ROUTER_OPTION[1], ROUTER_OPTION[2])
      .option(BASE_MARGIN_OPTION[0], BASE_MARGIN_OPTION[1]),
    { json: "JSON" },
  ).action(async (store: string, queries: string[], flags: SearchFlags) => {
    const k = positiveInt(flags.k, "-k");
    const efSearch = efSearchFlag(flags, store);
    if (queries.some((q) => q.trim() === "")) throw new RouterRetrieverError("BAD_INPUT", "a query is empty");
    // Searching never creates a store: a missing or mistyped folder is an error, not an empty result.
    if (!isPostgresUrl(store)) {
      const st = statSync(store, { throwIfNoEntry: false });
      if (!st) throw new RouterRetrieverError("NOT_FOUND", `${store}: no such store folder (build one with \`routerretriever index\`)`);
      if (!st.isDirectory()) throw new RouterRetrieverError("BAD_INPUT", `${store}: not a store folder`);
    }
    const rr = await RouterRetriever.open({
      store,
      expertsDir: flags.experts,
      pilotsPath: flags.pilots,
      model: flags.model,
      threads: threadsFlag(flags),
      precision: precisionFlag(flags),
      exactSearch: flags.exact === true,
      efSearch,
      rule: routerFlag(flags.router, flags.baseMargin),
      onWarning: (m) => process.stderr.write(`routerretriever: warning: ${m}\n`),
    });
    let results;
    try {
      results = await rr.searchBatch(queries, k);
    } finally {
      await rr.close();
    }
    const out = queries.map((query, i) => {
      const r = results[i]!;
      return {
        query,
        expert: r.expert,
        scores: r.scores,
        ...(r.routingNote !== undefined ? { routingNote: r.routingNote } : {}),
        hits: r.hits.map((h) => ({ id: h.id, score: h.score, title: h.title })),
      };
    });
    if (flags.json) return printJson(out);
    for (const r of out) {
      console.log(`\n${r.query}`);
      const scores = Object.entries(r.scores)
        .sort((a, b) => b[1] - a[1])
        .map(([name, s]) => `${name} ${s.toFixed(3)}`)
        .join(", ");
      console.log(`  routed to: ${r.expert}${scores ? `  (routing scores: ${scores})` : ""}${r.routingNote ? `  [${r.routingNote}]` : ""}`);
      r.hits.forEach((h, j) => console.log(`${String(j + 1).padStart(3)}. ${h.score.toFixed(4)}  ${h.id}  ${h.title.slice(0, 100)}`));
    }
  });
}
