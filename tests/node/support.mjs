// Test support for the Node and browser tests: the real relay binary on an ephemeral
// port, a fake YouTube ingestion endpoint, and an SSE reader over fetch.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ADMIN_KEY = 'node-test-admin-key';

function youtubeTime(ms) {
  return new Date(ms).toISOString().replace('Z', '');
}

/** A fake ingestion endpoint: records {cid, seq, contentType, body} and answers 200 + its clock. */
export async function startFake() {
  const received = [];
  const waiters = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://fake');
      received.push({
        cid: url.searchParams.get('cid'),
        seq: Number(url.searchParams.get('seq')),
        contentType: req.headers['content-type'],
        body,
      });
      for (const w of waiters.splice(0)) w();
      const now = `${youtubeTime(Date.now())}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(now) });
      res.end(now);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/closedcaption`,
    received,
    /** Caption POSTs (heartbeats have empty bodies). */
    captions: () => received.filter((r) => r.body !== ''),
    async waitFor(pred, ms = 5000) {
      const deadline = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error('fake: timed out waiting');
        await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
      }
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Starts the relay binary (LCYT_BIN) with test settings; resolves once it listens. */
export async function startRelay(ingestUrl, env = {}) {
  const bin = process.env.LCYT_BIN;
  if (!bin) throw new Error('LCYT_BIN must point at the lcyt-backend binary');
  const dir = mkdtempSync(join(tmpdir(), 'lcyt-node-'));
  const child = spawn(bin, [], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      HOST: '127.0.0.1',
      DB_PATH: join(dir, 'lcyt.db'),
      ADMIN_KEY,
      JWT_SECRET: 'node-test-jwt-secret',
      YOUTUBE_INGEST_URL: ingestUrl,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${log}`)), 20000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = log.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`relay exited ${code}:\n${log}`)));
  });
  return {
    url,
    log: () => log,
    async createKey(extra = {}) {
      const res = await fetch(`${url}/keys`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Admin-Key': ADMIN_KEY },
        body: JSON.stringify({ owner: 'Node test', ...extra }),
      });
      if (res.status !== 201) throw new Error(`create key: ${res.status} ${await res.text()}`);
      return (await res.json()).key;
    },
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads an SSE stream over fetch; `next(name)` resolves with the next event of that name. */
export async function openEvents(url) {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal, headers: { Accept: 'text/event-stream' } });
  if (res.status !== 200) throw new Error(`events: ${res.status} ${await res.text()}`);
  const events = [];
  const waiters = [];
  (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const ev = { id: null, event: null, data: null };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) ev.id = Number(line.slice(4));
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
          }
          if (ev.event) events.push(ev);
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch { /* aborted */ }
  })();
  let cursor = 0;
  return {
    headers: res.headers,
    async next(name, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        while (cursor < events.length) {
          const ev = events[cursor++];
          if (!name || ev.event === name) return ev;
        }
        if (Date.now() > deadline) throw new Error(`no ${name} event within ${ms} ms`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
      }
    },
    close: () => controller.abort(),
  };
}
