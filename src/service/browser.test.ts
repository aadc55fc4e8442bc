/**
 * End to end in a real browser: Debian's chromium driven by playwright-core (which cannot
 * download browsers here). Skips, saying why, when /usr/bin/chromium is absent; CI installs it.
 * RR_SCREENSHOT=<path> also saves a screenshot of the result page there (docs/screenshot.png is made this way).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { RouterRetriever } from "../engine/router-retriever.js";
import { FIXTURE_DOCS, FIXTURE_RULE, makeFixture, type Fixture } from "../../test/support/engine.js";
import { startService, type RunningService } from "./server.js";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const TOKEN = "browser-test-token-0123456789";
if (!HAVE_CHROMIUM) console.warn(`browser end-to-end test skipped: ${CHROMIUM} not found (apt-get install chromium)`);

let fx: Fixture;
let rr: RouterRetriever;
let svc: RunningService;
let context: BrowserContext;
let page: Page;
const profile = mkdtempSync(join(tmpdir(), "rr-chromium-"));

describe.skipIf(!HAVE_CHROMIUM)("web page in chromium", () => {
  beforeAll(async () => {
    const { chromium } = await import("playwright-core");
    fx = await makeFixture();
    rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, pilotDomains: fx.pilotDomains, onWarning: () => {} });
    await rr.addDocuments(FIXTURE_DOCS);
    svc = await startService(rr, { port: 0, token: TOKEN, log: () => {} });
    // launchPersistentContext is how playwright takes a user data dir (a fresh one per run).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1280, height: 860 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await svc?.close();
    await rr?.close();
    fx?.cleanup();
    rmSync(profile, { recursive: true, force: true });
  });

  it("searches and shows results, the chosen expert and the routing score bars", async () => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(svc.url + "/");
    await expect.poll(() => page.textContent("#status")).toContain(`${FIXTURE_DOCS.length} documents`);
    await page.fill("#query", "does vitamin D deficiency cause multiple sclerosis");
    await page.click("#search-button");
    await page.waitForSelector("#results .hit");
    expect(await page.textContent("#chosen-expert")).toBe("scifact");
    expect(await page.getAttribute("#results .hit >> nth=0", "data-id")).toBe("sci-1");
    expect(await page.locator("#results .hit").count()).toBe(10);
    const bars = page.locator("#score-bars .bar");
    expect(await bars.count()).toBe(3);
    expect(await page.getAttribute("#score-bars .bar.chosen", "data-expert")).toBe("scifact");
    const widths = await page.locator("#score-bars .bar-fill").evaluateAll((els) => els.map((e) => (e as HTMLElement).getBoundingClientRect().width));
    expect(widths.every((w) => w > 0)).toBe(true);
    expect(Math.max(...widths)).toBe(widths[0]); // sorted by share, and the largest share is the chosen one
    expect(await page.textContent("#routing-explanation")).toMatch(/scifact/);
    expect(errors).toEqual([]);
  });

  it("shows add/remove controls once a token is entered, and they work", async () => {
    expect(await page.locator("#experts .expert button").count()).toBe(0);
    await page.click("#admin summary");
    await page.fill("#token", TOKEN);
    await page.click("#token-form button");
    await page.waitForSelector('#experts .expert[data-expert="code"] button');
    await page.click('#experts .expert[data-expert="code"] button');
    await expect.poll(() => page.textContent("#admin-message")).toContain("Removed code");
    expect(await page.getAttribute('#experts .expert[data-expert="code"]', "class")).not.toContain("active");
    await page.click('#experts .expert[data-expert="code"] button');
    await expect.poll(() => page.textContent("#admin-message")).toContain("Added code");
    await page.click("#examples .example >> nth=1");
    await expect.poll(() => page.textContent("#chosen-expert")).toBe("code");
    await page.fill("#query", "does vitamin D deficiency cause multiple sclerosis");
    await page.click("#search-button");
    await expect.poll(() => page.textContent("#chosen-expert")).toBe("scifact");
    const shot = process.env.RR_SCREENSHOT;
    if (shot) await page.screenshot({ path: shot, fullPage: true });
  });
});
