// Opens a page served by `rtx serve` in Debian's headless Chromium, prints "ready" once the
// page's EventSource is open, then waits until the page has received COUNT events and
// prints them (window.received) as one JSON line.
//
// usage: node eventsource.mjs PAGE_URL COUNT [TIMEOUT_MS]
import { chromium } from 'playwright-core';

const [pageUrl, countText, timeoutText] = process.argv.slice(2);
const count = Number(countText);
const timeout = Number(timeoutText ?? 20000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Root in a container needs --no-sandbox; the rest keep Chromium off the (closed) network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  // Mark the moment the page's own EventSource opens, whatever the page's script does.
  await page.addInitScript(() => {
    const Native = window.EventSource;
    window.EventSource = function (url, init) {
      const source = new Native(url, init);
      source.addEventListener('open', () => { window.__rtxOpen = true; });
      return source;
    };
    window.EventSource.prototype = Native.prototype;
  });
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.__rtxOpen === true, null, { timeout });
  console.log('ready');
  await page.waitForFunction((n) => (window.received ?? []).length >= n, count, { timeout });
  console.log(JSON.stringify(await page.evaluate(() => window.received)));
} finally {
  await browser.close();
}
