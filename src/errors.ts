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
  | "STORAGE_FULL"
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

/** What an operating-system error code means to the person who named the path. */
const SYSTEM_ERRORS: Readonly<Record<string, { code: ErrorCode; what: string }>> = {
  ENOENT: { code: "NOT_FOUND", what: "no such file or folder" },
  ENOTDIR: { code: "BAD_INPUT", what: "a part of this path is a file, not a folder" },
  EISDIR: { code: "BAD_INPUT", what: "is a folder, not a file" },
  EEXIST: { code: "BAD_INPUT", what: "already exists (and is not what was expected there)" },
  EACCES: { code: "BAD_INPUT", what: "permission denied" },
  EPERM: { code: "BAD_INPUT", what: "operation not permitted" },
  EROFS: { code: "BAD_INPUT", what: "on a read-only file system" },
  ELOOP: { code: "BAD_INPUT", what: "too many levels of symbolic links" },
  ENAMETOOLONG: { code: "BAD_INPUT", what: "name too long" },
  EMFILE: { code: "LIMIT_EXCEEDED", what: "too many open files" },
  ENFILE: { code: "LIMIT_EXCEEDED", what: "too many open files in the system" },
  ENOSPC: { code: "STORAGE_FULL", what: "no space left on the device; nothing was committed, free some space and retry" },
  EDQUOT: { code: "STORAGE_FULL", what: "disk quota exceeded; nothing was committed, free some space and retry" },
  EFBIG: { code: "STORAGE_FULL", what: "file too large for this file system or process limit" },
  EADDRINUSE: { code: "BAD_INPUT", what: "address already in use (another server on this port? try --port 0)" },
  EADDRNOTAVAIL: { code: "BAD_INPUT", what: "address not available on this machine" },
};

/**
 * An operating-system error (a Node errno error, or one carried as `cause`) as a library error
 * naming the path, so the CLI prints one line and the service a status, never a stack; undefined
 * for anything else (a bug, which is reported as such).
 */
export function fromSystemError(err: unknown): RouterRetrieverError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const sys = e as NodeJS.ErrnoException & { address?: string; port?: number };
    const known = typeof sys.code === "string" ? SYSTEM_ERRORS[sys.code] : undefined;
    if (!known) continue;
    const where = sys.path ?? (sys.address !== undefined ? `${sys.address}${sys.port !== undefined ? `:${sys.port}` : ""}` : undefined);
    const op = sys.syscall !== undefined ? `, ${sys.syscall}` : "";
    return new RouterRetrieverError(known.code, `${where !== undefined ? `${where}: ` : ""}${known.what} (${sys.code}${op})`, { cause: err });
  }
  return undefined;
}
