// Time limits for the node suites. Every test and hook has one (node:test's
// { timeout }), so a stuck test fails with its name while its file goes on,
// instead of hanging the run. They are generous, several times what a test takes
// on a loaded 2-core machine (assert behaviour, not speed), and multiplied by
// PALABRE_TIME_SCALE (make asan: 3).
//
//   test('name', { timeout: seconds(60) }, async () => { ... });
export const TIME_SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);
export const seconds = (s) => s * 1000 * TIME_SCALE;

// A test that times out fails with its name, but what it left running (a
// server, a socket, a browser) can keep node's event loop alive, and the file
// would then wait for the suite's own timeout (tests/run.sh). Every suite
// imports this module, so once the file's last test and hook are done, it
// exits at the latest 10 s later (unref: at once when nothing is left). Each
// test has already printed its TAP line, which is what tests/run.sh counts.
import { after } from 'node:test';

after(() => {
  setTimeout(() => {
    console.log('# handles still open after the last test: exiting');
    process.exit();
  }, 10000).unref();
});
