/**
 * Every error the library raises, in one place: a stable code (for the CLI's exit messages and
 * the HTTP service's JSON bodies) and a message that names the file, line or field at fault.
 */
export type ErrorCode =
  | "BAD_INPUT"
  | "PARSE_ERROR"
  | "NOT_FOUND"
  | "MODEL_MISMATCH"
  | "SHAPE_MISMATCH"
  | "UNSUPPORTED"
  | "CONFLICT"
  | "UNAUTHORIZED"
  | "LIMIT_EXCEEDED"
  | "INTERNAL";

export class RouterRetrieverError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RouterRetrieverError";
    this.code = code;
  }
}

/** A malformed record in a data file: names the file and the 1-based line. */
export function parseError(file: string, line: number, what: string): RouterRetrieverError {
  return new RouterRetrieverError("PARSE_ERROR", `${file}:${line}: ${what}`);
}
