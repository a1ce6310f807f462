// The checks of a browser test file: each one's `ok - NAME` or `not ok - NAME` and its
// error, and the closing `N passed, M failed` that scripts/browser-test.sh's caller
// reads. Shared by the test files, which each count their own (one file, one process).

let passed = 0;
let failed = 0;

/** Runs one check: `body` passes unless it throws. */
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

/** Prints `N passed, M failed`; returns the exit status: 0 when none failed. */
export function summary() {
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
