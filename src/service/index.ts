/** The HTTP service over a RouterRetriever. */
export { startService, checkServiceOptions, SERVICE_VERSION, type RunningService, type ServiceOptions, type ServiceEngine, type ServiceLimits } from "./server.js";
export { MicroBatcher, type BatcherOptions, type BatcherStats } from "./batcher.js";
export { HttpError, STATUS, type ServiceErrorCode } from "./errors.js";
export { DEFAULT_LIMITS } from "./routes.js";
export { demoPaths } from "./demo.js";
