// Drives the built chat page in headless Chromium (playwright-core, the system browser):
// sends each message given on the command line, waits until the chat is idle again with one
// more assistant message, and prints what the page rendered and which requests the transport
// made, as JSON on stdout. The Python test (tests/chat/test_chat_browser.py) judges it.
//
//   node e2e/chat.e2e.mjs <page url> <message> [<message> ...]
//
// Env: CHROMIUM (default /usr/bin/chromium), E2E_TIMEOUT_MS (default 30000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, ...texts] = process.argv.slice(2);
if (!url || texts.length === 0) {
  console.error('usage: node e2e/chat.e2e.mjs <page url> <message> [<message> ...]');
  process.exit(2);
}
const timeout = Number(process.env.E2E_TIMEOUT_MS || 30000);
const profile = mkdtempSync(join(tmpdir(), 'wdk-chat-e2e-'));
// A fresh profile per run (Playwright wants it as launchPersistentContext's first argument).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const consoleLines = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
  await page.goto(url);
  await page.waitForSelector('#status[data-status="ready"]');
  for (const [i, text] of texts.entries()) {
    await page.fill('#input', text);
    await page.click('#send');
    // Idle again, with this turn's assistant message rendered.
    await page.waitForFunction(
      (n) =>
        document.querySelector('#status')?.dataset.status === 'ready' &&
        document.querySelectorAll('.message[data-role="assistant"]').length >= n,
      i + 1,
    );
  }
  const result = await page.evaluate(() => ({
    messages: [...document.querySelectorAll('.message')].map((el) => ({
      role: el.dataset.role,
      text: el.textContent,
    })),
    status: document.querySelector('#status')?.dataset.status,
    error: document.querySelector('#error')?.textContent ?? null,
    requests: window.__wdkRequests,
  }));
  console.log(JSON.stringify({ ...result, console: consoleLines }));
} catch (err) {
  console.error(String(err && err.stack ? err.stack : err));
  console.error(consoleLines.join('\n'));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
