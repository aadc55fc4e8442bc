/**
 * The service's error vocabulary: every failure leaves as {"error": {"code", "message"}} with a
 * status fixed by its code, so clients can branch on `code` alone. Library errors keep their
 * code; the HTTP layer adds the few that only exist on the wire.
 */
import { fromSystemError, RouterRetrieverError, type ErrorCode } from "../errors.js";

export type HttpOnlyCode = "FORBIDDEN" | "METHOD_NOT_ALLOWED" | "PAYLOAD_TOO_LARGE" | "UNSUPPORTED_MEDIA_TYPE" | "OVERLOADED";
export type ServiceErrorCode = ErrorCode | HttpOnlyCode;

export const STATUS: Readonly<Record<ServiceErrorCode, number>> = {
  BAD_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  LIMIT_EXCEEDED: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  // The request was well-formed but names something unusable: an expert folder that does not
  // parse, was trained on another model, or has the wrong shapes.
  PARSE_ERROR: 422,
  MODEL_MISMATCH: 422,
  SHAPE_MISMATCH: 422,
  UNSUPPORTED: 422,
  INTERNAL: 500,
  OVERLOADED: 503,
  // Insufficient Storage: the write was refused because the disk is full; nothing was committed.
  STORAGE_FULL: 507,
};

export class HttpError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }

  get status(): number {
    return STATUS[this.code];
  }
}

/**
 * Any thrown value as an HttpError; unknown errors become INTERNAL with a generic message (details
 * go to the log). A full disk is the one system error a client can act on (retry later), so it
 * keeps its reason; the server's paths are not in it.
 */
export function toHttpError(err: unknown): { error: HttpError; internal: boolean } {
  if (err instanceof HttpError) return { error: err, internal: false };
  if (err instanceof RouterRetrieverError) return { error: new HttpError(err.code, err.message), internal: err.code === "INTERNAL" };
  const sys = fromSystemError(err);
  if (sys?.code === "STORAGE_FULL") {
    return { error: new HttpError("STORAGE_FULL", "the server's disk is full: the write was refused and nothing was committed; the store is unchanged. Retry once space has been freed."), internal: false };
  }
  return { error: new HttpError("INTERNAL", "internal error (see the server log)"), internal: true };
}
