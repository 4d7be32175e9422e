// A real browser (Debian's Chromium, headless, driven by playwright-core): a page served
// from another origin than the API registers, listens with EventSource, sends with
// fetch and must see every caption_result; a page on a third origin must be blocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startFake, startRelay } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, '..', '..', 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];

/** Serves one HTML file on its own origin. */
async function servePage(file) {
  const html = readFileSync(join(here, file));
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('a browser app on another origin gets every result; a third origin is blocked', async () => {
  const fake = await startFake();
  const relay = await startRelay(fake.url);
  const app = await servePage('app.html');
  const intruder = await servePage('intruder.html');
  const profile = mkdtempSync(join(tmpdir(), 'lcyt-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    assert.notEqual(new URL(app.origin).port, new URL(relay.url).port, 'the page and the API are different origins');
    const apiKey = await relay.createKey();
    const count = 12;
    const page = await context.newPage();
    const query = new URLSearchParams({ api: relay.url, apiKey, streamKey: 'browser-stream', count: String(count) });
    await page.goto(`${app.origin}/?${query}`);
    await page.waitForFunction((n) => window.results.length === n || window.fatal, count, { timeout: 15000 });
    const { results, failures, fatal, token } = await page.evaluate(() => ({
      results: window.results, failures: window.failures, fatal: window.fatal, token: window.token,
    }));
    assert.equal(fatal, undefined);
    assert.deepEqual(failures, []);
    assert.equal(results.length, count);
    const resultSeqs = results.map((r) => r.sequence);
    assert.deepEqual(resultSeqs, [...resultSeqs].sort((a, b) => a - b), 'results arrive in delivery order');
    assert.ok(results.every((r) => r.statusCode === 200));
    const texts = fake.captions().flatMap((p) => p.body.split('\n').filter((_, i) => i % 2 === 1));
    assert.deepEqual(texts, [...Array(count).keys()].map((i) => `browser caption ${i}`), 'delivered in order');
    const seqs = fake.captions().map((p) => p.seq);
    assert.deepEqual(seqs, [...seqs.keys()], 'one seq per POST, no gaps');
    assert.deepEqual([...new Set(resultSeqs)], seqs, 'every POST reported');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'browser-app.png'), fullPage: true });

    const other = await context.newPage();
    const iq = new URLSearchParams({ api: relay.url, token });
    await other.goto(`${intruder.origin}/?${iq}`);
    await other.waitForFunction(() => window.outcome, null, { timeout: 15000 });
    const outcome = await other.evaluate(() => window.outcome);
    assert.deepEqual(outcome, { getLive: 'blocked', postCaptions: 'blocked', events: 'blocked', health: 'allowed 200' });
    await other.screenshot({ path: join(artifacts, 'browser-intruder.png') });
    assert.ok(!fake.captions().some((p) => p.body.includes('intruder')), 'the blocked POST never reached YouTube');

    // Preflights as CONTRACT §8 says, seen from outside the browser.
    const preflight = (origin, path, method) => fetch(`${relay.url}${path}`, {
      method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': method },
    });
    const ok = await preflight(app.origin, '/captions', 'POST');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), app.origin);
    assert.match(ok.headers.get('access-control-allow-headers'), /Authorization/);
    const refused = await preflight(intruder.origin, '/captions', 'POST');
    assert.equal(refused.status, 204);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    const register = await preflight(intruder.origin, '/live', 'POST');
    assert.equal(register.headers.get('access-control-allow-origin'), intruder.origin);
    assert.equal((await preflight(app.origin, '/keys', 'POST')).headers.get('access-control-allow-origin'), null);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await app.close();
    await intruder.close();
    relay.stop();
    await fake.close();
  }
});
