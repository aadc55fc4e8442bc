/**
 * Makes docs/screenshot.png: the web page after a search over the demo corpus, served by the
 * real CLI with the demo's trained experts and pilot library (demo/experts, demo/pilots.json)
 * when they exist, else synthetic ones (bench/service-setup.ts), in Debian's chromium.
 *
 *   npx tsx bench/service-screenshot.ts [query]
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { projectRoot } from "../src/util/paths.js";
import { prepareDemoRouting, spawnServer } from "./service-setup.js";

const query = process.argv[2] ?? "Vitamin D deficiency increases the risk of multiple sclerosis";
const dir = mkdtempSync(join(tmpdir(), "rr-shot-"));
const token = "screenshot-token-0123456789";
let server: Awaited<ReturnType<typeof spawnServer>> | undefined;
try {
  const demo = join(projectRoot, "demo");
  const s = existsSync(join(demo, "pilots.json"))
    ? { storeDir: join(dir, "store"), expertsDir: join(demo, "experts"), pilotsPath: join(demo, "pilots.json"), corpusPath: join(demo, "corpus.jsonl") }
    : await prepareDemoRouting(dir);
  server = await spawnServer(["--store", s.storeDir, "--experts", s.expertsDir, "--pilots", s.pilotsPath, "--corpus", s.corpusPath, "--port", "0", "--token", token]);
  const context = await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(server.url + "/");
    await page.click("#admin summary");
    await page.fill("#token", token);
    await page.click("#token-form button");
    await page.waitForSelector("#experts .expert button");
    await page.fill("#query", query);
    await page.selectOption("#k", "5");
    await page.click("#search-button");
    await page.waitForSelector("#results .hit");
    const out = join(projectRoot, "docs", "screenshot.png");
    await page.screenshot({ path: out, fullPage: true });
    console.error(`routed to ${await page.textContent("#chosen-expert")}; wrote ${out}`);
  } finally {
    await context.close();
  }
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
