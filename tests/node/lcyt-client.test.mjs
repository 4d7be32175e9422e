// The published `lcyt` client library (`lcyt/backend`, BackendCaptionSender) driven
// exactly as an app would, against the real relay and a fake ingestion endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendCaptionSender } from 'lcyt/backend';
import { openEvents, startFake, startRelay } from './support.mjs';

const youtube = (ms) => new Date(ms).toISOString().replace('Z', '');

test('BackendCaptionSender: start, sync, heartbeat, send forms, batch, sequence, end', async () => {
  const fake = await startFake();
  const relay = await startRelay(fake.url);
  try {
    const apiKey = await relay.createKey();
    const sender = new BackendCaptionSender({
      backendUrl: relay.url,
      apiKey,
      streamKey: 'node-stream-key',
      domain: 'http://app.localhost',
    });
    await sender.start();
    assert.equal(sender.isStarted, true);
    assert.equal(sender.sequence, 0);
    assert.match(sender.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const events = await openEvents(`${relay.url}/events?token=${sender._token}`);
    assert.equal((await events.next('connected')).data.micHolder, null);

    const sync = await sender.sync();
    assert.equal(sync.statusCode, 200);
    assert.equal(typeof sync.roundTripTime, 'number');
    assert.match(sync.serverTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    assert.equal(sender.syncOffset, sync.syncOffset);
    const hb = await sender.heartbeat();
    assert.deepEqual(hb, { sequence: 0, syncOffset: sync.syncOffset });

    const results = [];
    const expectResult = async (ack, count) => {
      assert.equal(ack.ok, true);
      const ev = await events.next('caption_result');
      assert.equal(ev.data.requestId, ack.requestId);
      assert.equal(ev.data.statusCode, 200);
      assert.equal(ev.data.count, count);
      results.push(ev.data.sequence);
    };
    await expectResult(await sender.send('plain'), undefined);
    const iso = '2026-12-03T10:00:00.250+02:00';
    await expectResult(await sender.send('iso stamp', iso), undefined);
    await expectResult(await sender.send('relative', { time: 1500 }), undefined);
    await expectResult(await sender.sendBatch([{ text: 'b1' }, { text: 'b2\nline' }, { text: 'b3' }]), 3);
    sender.construct('queued one');
    sender.construct('queued two');
    await expectResult(await sender.sendBatch(), 2);
    const patched = await sender.updateSession({ sequence: 50 });
    assert.deepEqual(patched, { sequence: 50 });
    await expectResult(await sender.send('after patch'), undefined);
    assert.deepEqual(results, [0, 1, 2, 3, 4, 50]);

    const posts = fake.captions();
    assert.deepEqual(posts.map((p) => p.seq), [0, 1, 2, 3, 4, 50]);
    assert.ok(posts.every((p) => p.cid === 'node-stream-key' && p.contentType === 'text/plain'));
    const lines = posts.map((p) => p.body.split('\n'));
    assert.deepEqual(lines.map((l) => l.filter((_, i) => i % 2 === 1 && i < l.length - 1)),
      [['plain'], ['iso stamp'], ['relative'], ['b1', 'b2<br>line', 'b3'], ['queued one', 'queued two'], ['after patch']]);
    assert.ok(posts.every((p) => p.body.endsWith('\n')));
    assert.equal(lines[1][0], '2026-12-03T08:00:00.250');
    const started = Date.parse(sender.startedAt);
    assert.equal(lines[2][0], youtube(started + 1500 + sync.syncOffset));
    // Heartbeats (registration and sync) carried the current seq and an empty body.
    assert.deepEqual(fake.received.filter((r) => r.body === '').map((r) => r.seq), [0, 0]);

    const token = sender._token;
    await sender.end();
    assert.equal(sender.isStarted, false);
    await events.next('session_closed');
    const dead = await fetch(`${relay.url}/live`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(dead.status, 401);
    events.close();
  } finally {
    relay.stop();
    await fake.close();
  }
});

test('BackendCaptionSender surfaces the relay\'s errors', async () => {
  const fake = await startFake();
  const relay = await startRelay(fake.url);
  try {
    const bad = new BackendCaptionSender({ backendUrl: relay.url, apiKey: 'no-such-key', streamKey: 's' });
    await assert.rejects(bad.start(), (e) => e.statusCode === 401 || /unknown/i.test(e.message));
    const apiKey = await relay.createKey({ lifetime_limit: 1 });
    const sender = new BackendCaptionSender({ backendUrl: relay.url, apiKey, streamKey: 's' });
    await sender.start();
    await sender.send('one');
    await assert.rejects(sender.send('two'), /lifetime_limit_exceeded/);
    await sender.end();
  } finally {
    relay.stop();
    await fake.close();
  }
});
