// Opens /websocket.html of `rtx serve` in Debian's headless Chromium, prints "ready" once
// the page's WebSocket is open, sends each SEND argument as a text message from the page,
// waits until the page has received COUNT messages and prints them (window.received) as
// one JSON line.
//
// usage: node websocket.mjs PAGE_URL COUNT [SEND...]
import { chromium } from 'playwright-core';

const [pageUrl, countText, ...sends] = process.argv.slice(2);
const count = Number(countText);
const timeout = Number(process.env.TIMEOUT_MS ?? 20000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Root in a container needs --no-sandbox; the rest keep Chromium off the (closed) network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.waitForFunction(() => document.getElementById('state').textContent === 'open',
                             null, { timeout });
  console.log('ready');
  for (const text of sends) {
    await page.evaluate((data) => window.send(data), text);
  }
  await page.waitForFunction((n) => (window.received ?? []).length >= n, count, { timeout });
  console.log(JSON.stringify(await page.evaluate(() => window.received)));
} finally {
  await browser.close();
}
