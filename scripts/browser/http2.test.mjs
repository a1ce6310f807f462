// The clients page over HTTPS/2 in headless Debian Chromium, driven by Playwright: the
// page comes over HTTP/2 (ALPN h2 with wsppsrv's self-signed certificate, which the
// browser is told to accept), and "Connect this browser" must then open its WebSocket
// on that same connection with an extended CONNECT (RFC 8441), as Chromium does where
// the server's SETTINGS allow it: /clients.json must list it with "http_version": "2".
//
// scripts/browser-test.sh starts a wsppsrv with TLS for it and passes its https:// URL
// in WSPP_TLS_URL. It ends with the line "N passed, M failed" and exits non-zero on
// any failure.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

import { PATIENCE_MS, check, report } from './harness.mjs';

const BASE = process.env.WSPP_TLS_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE) {
  console.error('http2.test.mjs: set WSPP_TLS_URL to the server, e.g. https://localhost:8443');
  process.exit(2);
}
setTimeout(() => {
  console.log('http2.test.mjs: gave up after 2 minutes');
  process.exit(1);
}, 120_000).unref();

// No sandbox as root, no QUIC (HTTP/3 would take the page elsewhere), and the
// self-signed certificate accepted, which leaves HTTP/2 on: the browser still
// negotiates ALPN as for a trusted one.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--ignore-certificate-errors'],
  timeout: PATIENCE_MS,
});
const context = await browser.newContext({ ignoreHTTPSErrors: true });
context.setDefaultTimeout(PATIENCE_MS);
const page = await context.newPage();

await check('the page loads over HTTP/2', async () => {
  const response = await page.goto(`${BASE}/`);
  assert.equal(response.status(), 200);
  const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
  assert.equal(protocol, 'h2');
});

await check('"Connect this browser" opens its WebSocket over HTTP/2: /clients.json says "2"', async () => {
  const ua = await page.evaluate(() => navigator.userAgent);
  await page.click('#connect');
  await page.waitForSelector('#status.connected');
  assert.match(await page.textContent('#status'), /^Connected to wss:\/\/localhost:\d+\/pingpong\./);
  const deadline = Date.now() + PATIENCE_MS;
  let mine;
  for (;;) {
    // Asked by the page itself, on its HTTP/2 connection and under its certificate
    // exception.
    const json = await page.evaluate(async () => (await fetch('/clients.json', { cache: 'no-store' })).json());
    mine = json.clients.filter((c) => c.user_agent === ua);
    if (mine.length > 0 && mine[0].pongs_received > 0) break;
    if (Date.now() > deadline) throw new Error(`no measured client of this browser: ${JSON.stringify(json)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(mine.length, 1);
  assert.equal(mine[0].http_version, '2');
  assert.equal(mine[0].route, '/pingpong');
});

await browser.close();
report();
