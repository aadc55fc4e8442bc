/**
 * Expert names come from HTTP clients, so an expert name must only ever name a folder directly
 * inside expertsDir: no separators, no "..", no absolute paths, and no symlink that leads out
 * of expertsDir (checked on the real path, after the name itself passed).
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { join, relative, isAbsolute, sep } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { BASE } from "./types.js";

/** Letters, digits, '.', '_' and '-', starting with a letter or digit; at most 100 characters. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkExpertName(name: unknown): string {
  if (typeof name !== "string" || name === "") throw new RouterRetrieverError("BAD_INPUT", "expert name must be a non-empty string");
  if (!NAME.test(name) || name.includes("..")) {
    throw new RouterRetrieverError(
      "BAD_INPUT",
      `expert name ${JSON.stringify(name.slice(0, 120))} is not a plain folder name (letters, digits, '.', '_', '-'; no paths, no "..")`,
    );
  }
  if (name === BASE) throw new RouterRetrieverError("BAD_INPUT", `"${BASE}" is the base model, not an expert folder`);
  return name;
}

/** The real path of expertsDir/name, refused unless it is a directory inside expertsDir's real path. */
export function resolveExpertDir(expertsDir: string | undefined, name: string): string {
  checkExpertName(name);
  if (expertsDir === undefined) throw new RouterRetrieverError("NOT_FOUND", `no expert "${name}": no experts folder was given`);
  const candidate = join(expertsDir, name);
  if (!existsSync(candidate)) throw new RouterRetrieverError("NOT_FOUND", `no expert folder "${name}" in the experts folder`);
  const root = realpathSync(expertsDir);
  const real = realpathSync(candidate);
  const rel = relative(root, real);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel) || rel.includes(sep)) {
    throw new RouterRetrieverError("BAD_INPUT", `expert "${name}" resolves outside the experts folder (symlink?); refused`);
  }
  if (!statSync(real).isDirectory()) throw new RouterRetrieverError("BAD_INPUT", `expert "${name}" is not a folder`);
  return real;
}
