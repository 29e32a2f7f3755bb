#!/usr/bin/env node
// A plain Node.js WebSocket client on the npm `ws` package, the baseline
// compare.sh sets `wsdoctor load` against: it opens N idle connections at a
// bounded rate (or as fast as it can), holds them all for a while, then
// closes them and exits. Nothing is sent on the connections.
//
//   node node-client.js ws://127.0.0.1:PORT/ [-c 9000] [--rate 2000]
//        [--hold 10] [--delay 1] [--open-timeout 120]
//
// --rate 0 opens every connection at once (as fast as the event loop can).
// --delay waits this many seconds after start-up before the first connect,
// so that an outside sampler can read the RSS before any connection.
// Progress is printed on stdout as JSON lines: `ready` (before connecting),
// `all_open` (the last 101 Switching Protocols arrived), `hold_end`,
// `done`. Exit status: 0 when every connection opened, 1 otherwise.
'use strict';

const WebSocket = require('ws');

function parseArgs(argv) {
  const o = { url: null, conns: 9000, rate: 2000, hold: 10, delay: 1, openTimeout: 120 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '-c' || a === '--connections') o.conns = Number(next());
    else if (a === '--rate') o.rate = Number(next());
    else if (a === '--hold') o.hold = Number(next());
    else if (a === '--delay') o.delay = Number(next());
    else if (a === '--open-timeout') o.openTimeout = Number(next());
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else o.url = a;
  }
  if (!o.url) throw new Error('usage: node node-client.js URL [-c N] [--rate R] [--hold S]');
  for (const k of ['conns', 'rate', 'hold', 'delay', 'openTimeout']) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new Error(`bad value for ${k}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const say = (obj) => process.stdout.write(JSON.stringify({ t: +(now() / 1000).toFixed(3), ...obj }) + '\n');
const t0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - t0) / 1e6; // ms since start

const sockets = [];
let started = 0;
let opened = 0;
let failed = 0;
let closedEarly = 0;
const errors = {};
let connectStart = 0;
let allOpenAt = null;
let holdTimer = null;
let finished = false;

function openOne() {
  const ws = new WebSocket(opts.url);
  let isOpen = false;
  ws.on('open', () => {
    isOpen = true;
    opened++;
    if (opened + failed === opts.conns) rampDone();
  });
  ws.on('error', (err) => {
    const key = err.code || err.message;
    errors[key] = (errors[key] || 0) + 1;
  });
  ws.on('close', () => {
    if (finished) return;
    if (isOpen) {
      closedEarly++;
    } else {
      failed++;
      if (opened + failed === opts.conns) rampDone();
    }
  });
  sockets.push(ws);
  started++;
}

function ramp() {
  connectStart = now();
  say({ event: 'connecting', conns: opts.conns, rate: opts.rate });
  if (opts.rate === 0) {
    while (started < opts.conns) openOne();
    return;
  }
  // Open what is due every 5 ms: at most `rate` per second on average.
  const tick = setInterval(() => {
    const due = Math.min(opts.conns, Math.floor(((now() - connectStart) / 1000) * opts.rate) + 1);
    while (started < due) openOne();
    if (started >= opts.conns) clearInterval(tick);
  }, 5);
}

function rampDone() {
  if (holdTimer) return;
  allOpenAt = now();
  say({
    event: opened === opts.conns ? 'all_open' : 'ramp_done',
    opened,
    failed,
    open_s: +((allOpenAt - connectStart) / 1000).toFixed(3),
    rss_kib: Math.round(process.memoryUsage().rss / 1024),
  });
  holdTimer = setTimeout(finish, opts.hold * 1000);
}

function finish() {
  if (finished) return;
  say({
    event: 'hold_end',
    opened,
    failed,
    closed_early: closedEarly,
    still_open: opened - closedEarly,
    rss_kib: Math.round(process.memoryUsage().rss / 1024),
    errors,
  });
  finished = true;
  process.exitCode = opened === opts.conns && closedEarly === 0 ? 0 : 1;
  for (const ws of sockets) {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'node-client finished');
    else ws.terminate();
  }
  // Give the close handshakes a moment, then go regardless.
  setTimeout(() => {
    for (const ws of sockets) ws.terminate();
    say({ event: 'done', opened, failed, closed_early: closedEarly });
    process.exit();
  }, 1000).unref();
}

say({ event: 'ready', pid: process.pid, rss_kib: Math.round(process.memoryUsage().rss / 1024) });
setTimeout(() => {
  ramp();
  // Bounded: if the ramp never completes, hold what opened and finish.
  setTimeout(() => {
    if (!holdTimer) {
      say({ event: 'open_timeout', opened, failed, started });
      rampDone();
    }
  }, opts.openTimeout * 1000).unref();
}, opts.delay * 1000);
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
