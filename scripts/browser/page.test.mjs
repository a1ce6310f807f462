// The clients page in a real browser: headless Debian Chromium, driven by Playwright.
//
// scripts/browser-test.sh installs what this needs, starts wsppsrv and runs this file
// with the server's URL in WSPP_URL. The checks run in order and share browsers,
// because they tell one story: a page with no one on it, a browser that connects and
// is measured, a second tab that sees it, a hostile client that must stay text, a
// list that pages, a phone, and a screenshot of the result.
//
// It ends with the line "N passed, M failed" and exits non-zero on any failure.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

import { check, summary } from './check.mjs';

const BASE = process.env.WSPP_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT || '';
const PHONE_SCREENSHOT = process.env.PHONE_SCREENSHOT || '';
if (!BASE) {
  console.error('page.test.mjs: set WSPP_URL to the server, e.g. http://127.0.0.1:8080');
  process.exit(2);
}

// The flags this machine's Chromium needs: no sandbox as root, and no background
// traffic, which a closed network refuses. Playwright's own defaults are left out
// (ignoreDefaultArgs), so the browser runs with exactly these, a fresh profile, and
// the pipe Playwright drives it through.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const HOSTILE_UA = '<img src=x onerror=alert(1)>';
// How long any one awaited event may take.
const PATIENCE_MS = 15_000;

// A stuck browser must not hang CI: give up on the whole run after five minutes.
setTimeout(() => {
  console.log('page.test.mjs: gave up after 5 minutes');
  process.exit(1);
}, 300_000).unref();

// Things that must never happen on any page; the last check asserts there were none.
const trouble = [];
const cleanups = [];

async function launch(label, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), `wspp-${label}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args: [...FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'],
    viewport: { width: 1280, height: 800 },
    timeout: PATIENCE_MS,
    ...options,
  });
  context.setDefaultTimeout(PATIENCE_MS);
  cleanups.push(async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  const watch = (page) => {
    page.on('dialog', (dialog) => {
      trouble.push(`${label}: a dialog opened: ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    });
    page.on('pageerror', (error) => trouble.push(`${label}: page error: ${error.message}`));
    page.on('console', (message) => {
      // The server refuses the favicon on purpose (404); everything else is a fault,
      // a Content-Security-Policy violation included.
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) {
        trouble.push(`${label}: console error: ${message.text()}`);
      }
    });
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/x') {
        trouble.push(`${label}: the hostile <img src=x> was loaded`);
      }
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return context;
}

/** Polls `probe` until it returns a truthy value, which it returns. */
async function until(what, probe) {
  const deadline = Date.now() + PATIENCE_MS;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) {
        return last;
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what} (last: ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The client rows of a page's table, as objects. */
async function rows(page) {
  const cells = await page.$$eval('#list tbody tr', (trs) =>
    trs.filter((tr) => tr.cells.length === 13).map((tr) => [...tr.cells].map((td) => td.textContent)),
  );
  // The route cell also names the HTTP version the WebSocket runs over (`/pingpong HTTP/1.1`).
  return cells.map(([id, peer, ua, origin, routeCell, extensions, since, pings, pongs, last, min, avg, max]) => {
    const [route, http] = routeCell.split(' HTTP/');
    return {
      id, peer, ua, origin, route, http, extensions, since, pings: Number(pings), pongs: Number(pongs), last, min, avg, max,
    };
  });
}

const measured = (rtt) => /^\d+(\.\d+)? (µs|ms)$/.test(rtt);
// The last RTT names the clock it was taken on (the kernel's stamps, or the user's).
const measuredLast = (rtt) => /^\d+(\.\d+)? (µs|ms) (kernel|user)$/.test(rtt);

async function clientsJson() {
  const response = await fetch(`${BASE}/clients.json`);
  assert.equal(response.status, 200);
  return response.json();
}

// The state the story passes along.
let main; // the first browser: tabs `a` (connects first) and `b` (looks, connects later)
let hostile; // a second browser whose User-Agent is an HTML payload
let a;
let b;
let c; // looks only: paging
let ua;

await check('the page is complete without JavaScript', async () => {
  main = await launch('main');
  const page = await main.newPage();
  const cdp = await main.newCDPSession(page);
  await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
  const response = await page.goto(BASE);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), 'wsppsrv: connected clients');
  assert.equal(await page.textContent('#clients-now'), '0');
  assert.equal(await page.locator('#list thead th').count(), 13);
  assert.match(await page.textContent('#list tbody'), /no WebSocket client is connected/);
  assert.match(await page.textContent('#pager'), /No WebSocket client is connected\. These clients as JSON/);
  assert.equal(await page.getAttribute('#pager a', 'href'), '/clients.json?limit=500');
  assert.match(await page.textContent('.lede'), /reload it to see the current set/);
  assert.equal(await page.isVisible('#browser'), false, 'no dead buttons without JavaScript');
  await page.close();
});

await check('"Connect this browser" joins the list with a measured RTT, without a reload', async () => {
  a = await main.newPage();
  await a.goto(BASE);
  ua = await a.evaluate(() => navigator.userAgent);
  assert.equal(await a.isVisible('#browser'), true, 'the script shows its panel');
  await a.click('#connect');
  await a.waitForSelector('#status.connected');
  assert.equal(await a.textContent('#connect'), 'Disconnect');
  assert.equal(await a.isChecked('#live'), true, 'connecting turns on the refresh');
  // The live refresh swaps in the server's table while the socket stays open.
  const me = await until('this browser listed with an RTT', async () =>
    (await rows(a)).find((r) => r.route === '/pingpong' && r.ua === ua && r.pongs > 0 && measuredLast(r.last)),
  );
  assert.ok(me.pings >= me.pongs);
  for (const rtt of [me.min, me.avg, me.max]) {
    assert.ok(measured(rtt), `an RTT in the row: ${rtt}`);
  }
  // And the button does the same on demand.
  const before = await a.getAttribute('body', 'data-refreshed');
  await a.click('#refresh');
  await until('the list refreshed', async () => (await a.getAttribute('body', 'data-refreshed')) !== before);
  assert.ok((await rows(a)).some((r) => r.ua === ua && measuredLast(r.last)));
  assert.match(await a.textContent('#status'), /^Connected to ws:\/\/127\.0\.0\.1:\d+\/pingpong\./);
});

await check('the page measures an application-level echo RTT', async () => {
  await until('three echoes', async () => /^([3-9]|\d\d+) \//.test(await a.textContent('#echo-count')));
  const read = async (id) => {
    const text = await a.textContent(id);
    assert.match(text, /^\d+\.\d\d ms$/, `${id}: ${text}`);
    return parseFloat(text);
  };
  const [min, avg, max] = [await read('#echo-min'), await read('#echo-avg'), await read('#echo-max')];
  await read('#echo-last');
  assert.ok(min <= avg && avg <= max, `min ${min} <= avg ${avg} <= max ${max}`);
});

await check('a second tab sees the first on a plain page load, and a reload updates it', async () => {
  b = await main.newPage();
  await b.goto(BASE);
  const first = (await rows(b)).filter((r) => r.route === '/pingpong' && r.ua === ua);
  assert.equal(first.length, 1, 'only the first tab is connected');
  assert.ok(measuredLast(first[0].last), `measured: ${first[0].last}`);
  assert.equal(await b.textContent('#clients-now'), '1');
  await until('more pings after a reload', async () => {
    await b.reload();
    const again = (await rows(b)).find((r) => r.id === first[0].id);
    return again && again.pings > first[0].pings;
  });
});

await check('a hostile User-Agent is shown as text and runs nothing', async () => {
  hostile = await launch('hostile', { userAgent: HOSTILE_UA });
  const h = await hostile.newPage();
  await h.goto(BASE);
  await h.click('#connect');
  await h.waitForSelector('#status.connected');
  // The server really got the payload, or this check would prove nothing.
  await until('the hostile client in /clients.json', async () =>
    (await clientsJson()).clients.some((c) => c.user_agent === HOSTILE_UA),
  );
  const shownOn = async (page) => {
    const row = await until('the hostile row', async () => (await rows(page)).find((r) => r.ua === HOSTILE_UA));
    assert.equal(row.route, '/pingpong');
    assert.equal(row.http, '1.1', 'the page over plain HTTP connects its WebSocket over HTTP/1.1');
    assert.equal(await page.locator('#list img').count(), 0, 'no <img> element in the list');
  };
  await b.reload(); // rendered by the server into a fresh page
  await shownOn(b);
  await a.click('#refresh'); // swapped into a live page by the script
  await shownOn(a);
  await shownOn(h); // the hostile browser's own view, refreshed live since it connected
});

await check('reloading a connected page closes its WebSocket (why "Refresh list" exists)', async () => {
  await b.click('#connect');
  await b.waitForSelector('#status.connected');
  const mine = (json) => json.clients.filter((c) => c.user_agent === ua).length;
  await until('both tabs connected', async () => mine(await clientsJson()) === 2);
  await b.reload();
  await until('the reloaded tab gone from the list', async () => mine(await clientsJson()) === 1);
  assert.equal(await b.textContent('#status'), 'Not connected.');
  await b.click('#connect');
  await b.waitForSelector('#status.connected');
  await until('the tab back in the list', async () => mine(await clientsJson()) === 2);
});

await check('a long list is paged: "showing N of M", next, and refresh keeps the window', async () => {
  // A tab of its own: navigating a connected tab would close its socket.
  c = await main.newPage();
  assert.equal((await clientsJson()).clients.length, 3);
  await c.goto(`${BASE}/?limit=2`);
  assert.equal((await rows(c)).length, 2);
  assert.match(await c.textContent('#pager'), /^Showing 2 of 3 clients \(ids \d+–\d+, oldest first\)\./);
  await c.click('#pager a[rel=next]');
  await c.waitForURL(/\?after=\d+&limit=2$/);
  assert.equal((await rows(c)).length, 1);
  assert.match(await c.textContent('#pager'), /^Showing 1 of 3 clients \(ids (\d+)–\1, oldest first\)\./);
  const before = await c.getAttribute('body', 'data-refreshed');
  await c.click('#refresh');
  await until('the list refreshed', async () => (await c.getAttribute('body', 'data-refreshed')) !== before);
  assert.equal((await rows(c)).length, 1, 'the refresh fetched the same window');
  await c.click('#pager a[rel=first]');
  await c.waitForURL(/\/\?limit=2$/);
  assert.equal((await rows(c)).length, 2);
});

await check('the page fits a phone-sized screen', async () => {
  // A phone of its own: a mobile viewport honours <meta name=viewport> and has overlay
  // scrollbars, as a real phone does.
  const phone = await launch('phone', {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await phone.newPage();
  await page.goto(BASE);
  const layout = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    screen: document.documentElement.clientWidth,
    label: getComputedStyle(document.querySelector('#list tbody td'), '::before').content,
    header: document.querySelector('#list thead').getBoundingClientRect().height,
  }));
  assert.equal(layout.screen, 390, 'laid out at the device width');
  assert.ok(layout.page <= layout.screen, `no sideways scrolling: ${layout.page} > ${layout.screen}`);
  assert.equal(layout.label, '"id"', 'each cell is labelled');
  assert.ok(layout.header <= 1, 'the column headings give way to the labels');
  assert.equal(await page.isVisible('#connect'), true);
  if (PHONE_SCREENSHOT) {
    mkdirSync(dirname(PHONE_SCREENSHOT), { recursive: true });
    await page.screenshot({ path: PHONE_SCREENSHOT, fullPage: true });
  }
  await page.close();
});

await check('a screenshot of the page with a few clients connected', async () => {
  await until('every client measured', async () => {
    const clients = (await clientsJson()).clients;
    return clients.length === 3 && clients.every((c) => c.rtt_last_us !== null);
  });
  await a.goto(BASE); // closes and reopens this tab's socket: connect again
  await a.click('#connect');
  await until('the page and its echo measured', async () =>
    /^([3-9]|\d\d+) \//.test(await a.textContent('#echo-count')) &&
    (await rows(a)).length === 3 && (await rows(a)).every((r) => measuredLast(r.last)),
  );
  if (SCREENSHOT) {
    // A window as tall as the page, so no scrollbar takes a strip off the picture.
    const height = await a.evaluate(() => document.documentElement.scrollHeight);
    await a.setViewportSize({ width: 1280, height: Math.max(720, height) });
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await a.screenshot({ path: SCREENSHOT });
  }
});

await check('nothing ran that should not: no dialog, page error, console error or hostile load', async () => {
  assert.deepEqual(trouble, []);
});

for (const cleanup of cleanups) {
  await cleanup();
}
process.exitCode = summary();
