// `wsppclient --deflate listen` seen from a real browser: headless Debian Chromium opens
// a WebSocket to it, sends a text message and closes, and listen's transcript must show
// what Chromium really sent (its Origin, its permessage-deflate offer, its masked and
// compressed frames) and what we answered; the page must see the extension agreed.
//
// scripts/browser-test.sh starts listen on LISTEN_PORT, its standard output going to
// the file LISTEN_OUT, and runs this file. It ends with "N passed, M failed".

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { FLAGS, PATIENCE_MS, check, report, until } from './harness.mjs';

const PORT = process.env.LISTEN_PORT;
const OUT = process.env.LISTEN_OUT;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!PORT || !OUT) {
  console.error('listen.test.mjs: set LISTEN_PORT and LISTEN_OUT (see scripts/browser-test.sh)');
  process.exit(2);
}
// The page comes from the same origin as listen, as a page that talks to its own
// server would; Playwright answers for it (listen serves WebSockets only), and
// the WebSocket itself goes to listen.
const ORIGIN = `http://127.0.0.1:${PORT}`;
const MESSAGE = 'hello from chromium, hello from chromium';
const PAGE = '<!doctype html><title>listen test</title><p>A WebSocket to wsppclient listen.';

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  ignoreDefaultArgs: true,
  args: [...FLAGS, '--remote-debugging-pipe', 'about:blank'],
  timeout: PATIENCE_MS,
});
let seen; // what the page saw of its WebSocket

await check("Chromium's WebSocket to listen --deflate agrees on permessage-deflate", async () => {
  // A page Playwright answers for has no address, so Chromium's Local Network Access
  // counts it as public and refuses its WebSocket to loopback, unless the permission a
  // user would grant is granted.
  const context = await browser.newContext();
  await context.grantPermissions(['local-network-access'], { origin: ORIGIN });
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  await page.route(`${ORIGIN}/`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  await page.goto(`${ORIGIN}/`);
  seen = await page.evaluate(
    ([url, message]) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onerror = () => reject(new Error('the WebSocket failed'));
        ws.onopen = () => {
          const extensions = ws.extensions;
          ws.send(message);
          ws.close(1000, 'done');
          ws.onclose = (event) => resolve({ extensions, code: event.code });
        };
      }),
    [`ws://127.0.0.1:${PORT}/any`, MESSAGE],
  );
  assert.match(seen.extensions, /^permessage-deflate/);
  assert.equal(seen.code, 1000);
});

await check("listen's transcript shows Chromium's Origin, offer, our answer and its masked frames", async () => {
  // Chromium may open a spare connection beside the WebSocket's: the one to check is
  // the one that asked for /any.
  let label;
  const text = await until('the WebSocket connection summary in the transcript', () => {
    const out = readFileSync(OUT, 'utf8');
    label = (out.match(/^(\[\d+\]) +\+[\d.]+ms ← GET \/any HTTP\/1\.1$/m) || [])[1];
    return label && out.split('\n').some((l) => l.startsWith(`${label} 127.0.0.1:`) && /closed 1000 .*by the client/.test(l)) && out;
  });
  const all = text.split('\n').filter((l) => l);
  assert.ok(all.every((l) => /^\[\d+\] /.test(l)), `every line labelled:\n${text}`);
  const lines = all.filter((l) => l.startsWith(`${label} `)).map((l) => l.slice(label.length));
  const has = (pattern) => assert.ok(lines.some((l) => pattern.test(l)), `${pattern} in:\n${text}`);
  has(/← GET \/any HTTP\/1\.1$/);
  has(new RegExp(`^ +Origin: ${ORIGIN.replace(/\./g, '\\.')}$`));
  has(/^ +Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits$/);
  has(/answering 101; extensions offered \(permessage-deflate; client_max_window_bits\), answered permessage-deflate; client_no_context_takeover$/);
  has(/→ HTTP\/1\.1 101 Switching Protocols$/);
  has(/^ +sec-websocket-extensions: permessage-deflate; client_no_context_takeover$/);
  // The message: masked with Chromium's key, compressed (RSV1), and inflated under it.
  const at = lines.findIndex((l) => /← Text fin=1 mask=1 key=[0-9a-f]{8} len=\d+ rsv=100 compressed$/.test(l));
  assert.ok(at >= 0, `a masked, compressed Text frame in:\n${text}`);
  assert.match(lines[at + 1], new RegExp(`inflated ${MESSAGE.length} bytes "${MESSAGE}"$`));
  has(/← Close fin=1 mask=1 key=[0-9a-f]{8} len=\d+ 1000 \(Normal Closure\) "done"/);
});

await browser.close();
report();
