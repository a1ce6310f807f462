// What every browser test file shares: how Chromium is started here, how a test waits,
// and how checks are counted and reported ("N passed, M failed").

// The flags this machine's Chromium needs: no sandbox as root, and no background
// traffic, which a closed network refuses. Playwright's own defaults are left out
// (ignoreDefaultArgs), so the browser runs with exactly these, a fresh profile, and
// the pipe Playwright drives it through.
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// How long any one awaited event may take.
export const PATIENCE_MS = 15_000;

/** Polls `probe` until it returns a truthy value, which it returns. */
export async function until(what, probe) {
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

let passed = 0;
let failed = 0;

/** Runs one named check, printing "ok - name" or "not ok - name" and why. */
export async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}`);
    console.log(String(error && error.stack ? error.stack : error).replace(/^/gm, '    '));
  }
}

/** The last line, "N passed, M failed", and the exit status it makes. */
export function report() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}
