// Opens an `rtx bench --html` report from disk in Debian's headless Chromium, with every
// network request refused, and checks that its three charts (#throughput, #latency,
// #spectrum) were drawn: each holds an SVG with at least one data series of non-zero size.
// Prints a JSON summary on stdout; exits 0 if all three charts drew, 1 otherwise.
//
// usage: node bench_report.mjs REPORT.html [TIMEOUT_MS]
import { chromium } from 'playwright-core';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [htmlPath, timeoutText] = process.argv.slice(2);
if (!htmlPath) {
  console.error('usage: node bench_report.mjs REPORT.html [TIMEOUT_MS]');
  process.exit(2);
}
const timeout = Number(timeoutText ?? 20000);
const charts = ['throughput', 'latency', 'spectrum'];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Root in a container needs --no-sandbox; the rest keep Chromium off the (closed) network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let ok = false;
const summary = { file: resolve(htmlPath), external_requests: [], page_errors: [], charts: {} };
try {
  const page = await browser.newPage();
  // The report must be self-contained: any request other than the file itself fails it.
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    summary.external_requests.push(url);
    return route.abort();
  });
  page.on('pageerror', (error) => summary.page_errors.push(String(error)));
  await page.goto(pathToFileURL(resolve(htmlPath)).href);
  try {
    await page.waitForFunction(() => typeof window.chartsRendered === 'number', null, { timeout });
  } catch {
    summary.page_errors.push('window.chartsRendered was never set');
  }
  summary.charts_rendered = await page.evaluate(() => window.chartsRendered ?? null);
  for (const id of charts) {
    summary.charts[id] = await page.evaluate((chartId) => {
      const host = document.getElementById(chartId);
      if (!host) return { exists: false };
      const svg = host.querySelector('svg');
      const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      const series = [...host.querySelectorAll('path.series')].map((path) => {
        const bbox = path.getBBox();
        return {
          points: (path.getAttribute('d').match(/[ML]/g) ?? []).length,
          width: Math.round(bbox.width),
          height: Math.round(bbox.height),
        };
      });
      return { exists: true, svg: !!svg, width: Math.round(box.width), height: Math.round(box.height), series };
    }, id);
  }
  const drawn = (chart) => chart.exists && chart.svg && chart.width > 0 && chart.height > 0 &&
    chart.series.some((s) => s.points >= 1);
  ok = summary.charts_rendered === charts.length && charts.every((id) => drawn(summary.charts[id])) &&
    summary.external_requests.length === 0 && summary.page_errors.length === 0;
} finally {
  await browser.close();
}
summary.ok = ok;
console.log(JSON.stringify(summary));
process.exit(ok ? 0 : 1);
