import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { RouterRetrieverError, parseError } from "../errors.js";

/** One line of a text file, without its terminator, with its 1-based number. */
export interface NumberedLine {
  text: string;
  lineNo: number;
}

/**
 * The path of `name` inside `dir`, or of `name.gz` when only the gzipped copy exists (BEIR
 * mirrors often ship corpus.jsonl.gz). Throws NOT_FOUND naming both candidates.
 */
export function resolveDataFile(dir: string, name: string): string {
  const plain = join(dir, name);
  if (existsSync(plain)) return plain;
  const gz = `${plain}.gz`;
  if (existsSync(gz)) return gz;
  throw new RouterRetrieverError("NOT_FOUND", `${plain}: no such file (nor ${gz})`);
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = "\ufeff";

/**
 * Streams the lines of a UTF-8 text file, gunzipping when the name ends in ".gz".
 *
 * Splits on LF only and drops one trailing CR, so LF and CRLF files give the same lines; a lone
 * CR stays part of the line (Node's readline would split there, shifting line numbers). Bytes
 * are split before decoding so that invalid UTF-8 is reported at its own line. A final empty
 * line after the last LF is not reported.
 */
export async function* readLines(path: string): AsyncGenerator<NumberedLine> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let lineNo = 0;
  const decode = (bytes: Uint8Array): NumberedLine => {
    lineNo++;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(0, end));
    } catch {
      throw parseError(path, lineNo, "invalid UTF-8");
    }
    if (lineNo === 1 && text.startsWith(BOM)) text = text.slice(1);
    return { text, lineNo };
  };

  const file = createReadStream(path);
  const stream: Readable = path.endsWith(".gz") ? file.pipe(createGunzip()) : file;
  // pipe() does not forward errors; route the file's own errors (ENOENT, EACCES) to the consumer.
  if (stream !== file) file.on("error", (err) => stream.destroy(err));

  let carry: Buffer[] = [];
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      let nl = chunk.indexOf(NEWLINE, start);
      while (nl !== -1) {
        const piece = chunk.subarray(start, nl);
        const bytes = carry.length > 0 ? Buffer.concat([...carry, piece]) : piece;
        carry = [];
        yield decode(bytes);
        start = nl + 1;
        nl = chunk.indexOf(NEWLINE, start);
      }
      if (start < chunk.length) carry.push(chunk.subarray(start));
    }
  } catch (err) {
    if (err instanceof RouterRetrieverError) throw err;
    throw ioError(path, err);
  } finally {
    file.destroy();
    if (stream !== file) stream.destroy();
  }
  if (carry.length > 0) yield decode(Buffer.concat(carry));
}

function ioError(path: string, err: unknown): RouterRetrieverError {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ENOENT") return new RouterRetrieverError("NOT_FOUND", `${path}: no such file`, { cause: err });
  if (typeof code === "string" && code.startsWith("Z_")) {
    return new RouterRetrieverError("PARSE_ERROR", `${path}: not a valid gzip stream (${message})`, { cause: err });
  }
  return new RouterRetrieverError("INTERNAL", `${path}: read failed: ${message}`, { cause: err });
}
