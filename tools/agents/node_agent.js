#!/usr/bin/env node
// A Vimana agent in Node.js, `net` only (Protocol/AGENTS.md).
//
// Joins as an instance of its agent, takes the tasks the kernel pushes, and
// answers each by the request/reply convention (§4): a JSON object payload
// with `reply_to` gets a JSON object with the same `id` published there; then
// the task is acknowledged. The result: the `text` field upper-cased when
// there is one, and always `"ok":true` and the agent's id.
//
//   VIMANA_ADDR=127.0.0.1:7379 VIMANA_AGENT_ID=js node tools/agents/node_agent.js
//
// When VIMANA_PASSWORD is set (a supervising kernel sets it, with VIMANA_USER,
// in the environment and never in the arguments: Protocol/AGENTS.md §9), the
// agent authenticates with AUTH before it joins; without it, it joins as the
// connection's default user.
//
// One line per task goes to stdout, connection events to stderr (both reach
// the kernel's log when it supervises the agent). SIGTERM exits 0, after the
// task in hand if there is one. A lost connection is retried with backoff;
// once the process that started the agent is gone (a supervising kernel that
// died), the agent exits instead, since a kernel that comes back starts its own.
'use strict';

const net = require('net');

const ADDR = process.env.VIMANA_ADDR || '127.0.0.1:7379';
const AGENT_ID = process.env.VIMANA_AGENT_ID || 'js';
const USER = process.env.VIMANA_USER || 'default';
const PASSWORD = process.env.VIMANA_PASSWORD || ''; // never printed
const BACKOFF_FIRST_MS = 100; // before the first reconnect
const BACKOFF_MAX_MS = 5000; // reconnects never wait longer than this
const NACK_DELAY_MS = 1000; // a task whose reply could not be published comes back after this

// MARK: - RESP

/** A command as a RESP multibulk of bulk strings (byte lengths). */
function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

class RESPError {
  constructor(message) { this.message = message; }
  toString() { return this.message; }
}

const INCOMPLETE = Symbol('incomplete');
/** What a command's reply is when the connection closed before it came. */
const CLOSED = Symbol('closed');

/** Parses one RESP2/RESP3 value at `pos`: [value, next] or INCOMPLETE. Bulk strings stay Buffers. */
function parse(buf, pos) {
  const cr = buf.indexOf('\r\n', pos);
  if (cr < 0) return INCOMPLETE;
  const kind = String.fromCharCode(buf[pos]);
  const head = buf.toString('utf8', pos + 1, cr);
  let next = cr + 2;
  switch (kind) {
    case '+': case '(': return [head, next];
    case '-': return [new RESPError(head), next];
    case ':': return [Number(head), next];
    case '_': return [null, next];
    case '#': return [head === 't', next];
    case ',': return [Number(head), next];
    case '$': case '=': case '!': {
      const n = Number(head);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return INCOMPLETE;
      return [buf.subarray(next, next + n), next + n + 2];
    }
    case '*': case '>': case '~': case '%': case '|': {
      const n = Number(head);
      if (n < 0) return [null, next];
      const items = [];
      for (let i = 0; i < (kind === '%' || kind === '|' ? n * 2 : n); i++) {
        const r = parse(buf, next);
        if (r === INCOMPLETE) return INCOMPLETE;
        items.push(r[0]);
        next = r[1];
      }
      if (kind === '|') return parse(buf, next); // attributes precede the value they describe
      return [items, next];
    }
    default: throw new Error(`unexpected RESP type ${JSON.stringify(kind)}`);
  }
}

// Five elements and the publisher; any added later are ignored (AGENTS.md §3).
const isTask = (v) => Array.isArray(v) && v.length >= 5 && Buffer.isBuffer(v[0]) && v[0].toString() === 'task';

// MARK: - The work

/** {request, reply}: the parsed request (null when the payload is not a JSON
 *  object) and the reply object (null when nothing is to be published). */
function handle(payload) {
  let request;
  try {
    request = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return { request: null, reply: null };
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return { request: null, reply: null };
  if (typeof request.reply_to !== 'string' || request.reply_to === '') return { request, reply: null };
  const reply = {};
  if ('id' in request) reply.id = request.id;
  reply.ok = true;
  reply.agent = AGENT_ID;
  if (typeof request.text === 'string') reply.text = request.text.toUpperCase();
  return { request, reply };
}

const say = (line) => process.stdout.write(line + '\n');
const note = (line) => process.stderr.write(line + '\n');

// MARK: - Connection

const [host, port] = (() => {
  const i = ADDR.lastIndexOf(':');
  const p = Number(ADDR.slice(i + 1));
  if (i <= 0 || !Number.isInteger(p) || p <= 0) {
    note(`VIMANA_ADDR must be host:port, got ${JSON.stringify(ADDR)}`);
    process.exit(2);
  }
  return [ADDR.slice(0, i), p];
})();

const parent = process.ppid;
let delay = BACKOFF_FIRST_MS;
let socket = null;
let stopping = false;
let busy = false;

/** One connection: join, then handle tasks in order, one at a time. */
function connect() {
  let buffer = Buffer.alloc(0);
  let joined = false;
  let failed = false;
  const waiting = []; // resolvers of replies to our commands, in order
  const tasks = []; // tasks pushed and not yet handled

  const s = net.createConnection({ host, port, noDelay: true });
  socket = s;

  const command = (...args) => new Promise((resolve) => {
    waiting.push(resolve);
    s.write(encode(args));
  });

  async function work() {
    if (busy) return;
    busy = true;
    while (tasks.length > 0 && !s.destroyed) await task(tasks.shift());
    busy = false;
    if (stopping) process.exit(0);
  }

  async function task([, topic, entry, deliveries, payload, publisher]) {
    const { request, reply } = handle(payload);
    const head = `task ${topic} ${entry} delivery=${deliveries} publisher=${publisher && publisher.length ? publisher : '-'}`;
    if (request === null) {
      say(`${head} payload is not a JSON object`);
    } else {
      const id = 'id' in request ? JSON.stringify(request.id) : '-';
      say(`${head} id=${id} reply_to=${reply ? request.reply_to : '-'}`);
    }
    if (reply !== null) {
      const r = await command('PUBLISH', request.reply_to, JSON.stringify(reply));
      if (r === CLOSED) return; // not acknowledged: the kernel delivers it again
      if (r instanceof RESPError) {
        note(`reply to ${request.reply_to} failed (${r}): task ${topic} ${entry} given back`);
        await command('NACK', topic, entry, NACK_DELAY_MS);
        return;
      }
    }
    const r = await command('ACK', topic, entry);
    if (r !== 1 && r !== CLOSED) note(`ACK ${topic} ${entry} answered ${r}: the task was no longer ours`);
  }

  /** AUTH first when the kernel gave us credentials; resolves to AUTH's reply, or '+OK' without one. */
  const authenticate = () => (PASSWORD ? command('AUTH', USER, PASSWORD) : Promise.resolve('OK'));

  s.on('connect', () => {
    authenticate().then((a) => {
      if (a === CLOSED) return CLOSED;
      if (a instanceof RESPError) {
        note(`cannot authenticate as user ${JSON.stringify(USER)}: ${a}`);
        process.exit(2); // a configuration error: retrying cannot help
      }
      return command('AGENT', 'JOIN', AGENT_ID);
    }).then((r) => {
      if (r === CLOSED) return;
      if (r instanceof RESPError) {
        note(`cannot join as agent ${JSON.stringify(AGENT_ID)}: ${r}`);
        process.exit(2); // a configuration error: retrying cannot help
      }
      joined = true;
      delay = BACKOFF_FIRST_MS;
      note(`joined ${ADDR} as agent ${AGENT_ID}`);
    });
  });

  s.on('data', (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    let pos = 0;
    try {
      for (;;) {
        const r = parse(buffer, pos);
        if (r === INCOMPLETE) break;
        pos = r[1];
        if (isTask(r[0])) {
          tasks.push(r[0]);
        } else if (waiting.length > 0) {
          waiting.shift()(r[0]);
        } else if (r[0] instanceof RESPError) {
          note(`server error: ${r[0]}`);
        }
      }
    } catch (e) {
      s.destroy(e);
      return;
    }
    buffer = buffer.subarray(pos);
    work();
  });

  s.on('error', (e) => {
    failed = true;
    if (!joined && delay === BACKOFF_FIRST_MS) note(`cannot connect to ${ADDR} (${e.message}); retrying`);
    else if (joined) note(`connection to ${ADDR} lost (${e.message}); reconnecting`);
  });

  s.on('close', () => {
    for (const resolve of waiting.splice(0)) resolve(CLOSED);
    tasks.length = 0; // held by this connection: redelivered by the kernel
    if (socket !== s) return;
    socket = null;
    if (stopping) process.exit(0);
    if (process.ppid !== parent) {
      note('the process that started this agent is gone; exiting');
      process.exit(1);
    }
    if (joined && !failed) note(`connection to ${ADDR} lost; reconnecting`);
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, BACKOFF_MAX_MS);
  });
}

function stop() {
  stopping = true;
  if (!busy) process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
connect();
