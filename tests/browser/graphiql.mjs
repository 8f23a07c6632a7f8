// Opens GraphiQL from a running Keel in headless Chromium with every non-local request blocked,
// runs the default query with the run button, and checks the result appears. Fails if the page
// tried to load anything from another host (a CDN), logged an error, or showed no result.
//
// Usage: node graphiql.mjs http://127.0.0.1:PORT [screenshot.png]
import { chromium } from 'playwright-core';

const base = process.argv[2];
const screenshot = process.argv[3];
if (!base) {
  console.error('usage: node graphiql.mjs http://127.0.0.1:PORT [screenshot.png]');
  process.exit(2);
}
const origin = new URL(base).origin;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const failures = [];
try {
  const page = await browser.newPage();
  const foreign = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));

  const response = await page.goto(`${origin}/graphql`, { waitUntil: 'networkidle' });
  if (!response || response.status() !== 200) failures.push(`GET /graphql answered ${response && response.status()}`);
  await page.waitForSelector('.graphiql-execute-button', { timeout: 15000 });
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    () => (document.querySelector('.result-window')?.textContent || '').includes('apiVersion'),
    null,
    { timeout: 15000 },
  );
  const result = await page.textContent('.result-window');
  if (!/"apiVersion":\s*"\d+\.\d+\.\d+"/.test(result.replace(/\s+/g, ' '))) {
    failures.push(`unexpected result pane: ${result}`);
  }
  if (foreign.length > 0) failures.push(`requests to other hosts: ${foreign.join(', ')}`);
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (error) {
  failures.push(String(error));
} finally {
  await browser.close();
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL: ${failure}`);
  process.exit(1);
}
console.log('GraphiQL rendered from Keel alone and ran a query in headless Chromium');
