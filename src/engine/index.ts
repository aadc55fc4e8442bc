/** The engine: open a store, search with routing, manage documents and experts. */
export { RouterRetriever } from "./router-retriever.js";
export type { InternalOpenOptions as RouterRetrieverOpenOptions } from "./methods/open.js";
export type { PilotDomainsProvider } from "./components/pilot-state.js";
export { checkExpertName } from "../experts/expert-dir.js";
export { MAX_ID_LENGTH } from "./methods/add-documents.js";
export * from "./types.js";
export { beirDomainsProvider } from "./components/beir-domains.js";
export { readDocumentsJsonl } from "../data/beir.js";
export { readDomainDocuments, type DomainDocuments } from "../data/domain-docs.js";
