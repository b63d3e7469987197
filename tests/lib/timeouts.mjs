// Time limits for the node suites. Every test and hook has one (node:test's
// { timeout }), so a stuck test fails with its name while its file goes on,
// instead of hanging the run. They are generous, several times what a test takes
// on a loaded 2-core machine (assert behaviour, not speed), and multiplied by
// PALABRE_TIME_SCALE (make asan: 3).
//
//   test('name', { timeout: seconds(60) }, async () => { ... });
export const TIME_SCALE = Number(process.env.PALABRE_TIME_SCALE || 1);
export const seconds = (s) => s * 1000 * TIME_SCALE;
