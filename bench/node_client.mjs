// The reference TypeScript client (npm partysocket + ws on Node) for the benchmark.
// argv: a JSON spec like bench.worker's; prints one JSON line of figures.
// It loads the packages pinned in tests/interop (run `npm ci` there first).
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const require = createRequire(path.join(root, "tests", "interop", "package.json"));
const spec = JSON.parse(process.argv[2]);
const t0 = performance.now();
const PartySocket = require("partysocket/ws").default; // ReconnectingWebSocket
const WS = require("ws");
const importSeconds = (performance.now() - t0) / 1000;
const now = () => performance.now() / 1000;

function open(url, options = {}) {
  const ws = new PartySocket(url, [], {
    WebSocket: WS,
    minReconnectionDelay: 1000,
    maxReconnectionDelay: 10000,
    ...options,
  });
  ws.binaryType = "arraybuffer";
  return ws;
}
const opened = (ws) => new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));

async function throughput({ url, n, size }) {
  const ws = open(url);
  await opened(ws);
  const payload = Buffer.alloc(size, "x");
  let count = 0;
  const done = new Promise((resolve) => {
    ws.onmessage = () => {
      if (++count === n) resolve();
    };
  });
  const start = now();
  for (let i = 0; i < n; i++) ws.send(payload);
  await done;
  const seconds = now() - start;
  ws.close();
  return { seconds, messages: n, size, msgs_per_s: n / seconds, mb_per_s: (n * size) / seconds / 1e6 };
}

async function latency({ url, n }) {
  const ws = open(url);
  await opened(ws);
  const payload = Buffer.alloc(32, "x");
  let resolveOne = null;
  ws.onmessage = () => resolveOne();
  const samples = [];
  for (let i = 0; i <= n; i++) {
    const got = new Promise((resolve) => (resolveOne = resolve));
    const start = now();
    ws.send(payload);
    await got;
    if (i) samples.push(now() - start);
  }
  ws.close();
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const p50 = samples.length % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  return { p50, p99: samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))], n };
}

async function sendCost({ url, n }) {
  const ws = open(url);
  await opened(ws);
  const payload = Buffer.alloc(32, "x");
  let start = now();
  for (let i = 0; i < n; i++) ws.send(payload);
  const openCost = (now() - start) / n;
  ws.close();
  const idle = open("ws://127.0.0.1:9/", { minReconnectionDelay: 30000, maxReconnectionDelay: 30000 });
  await new Promise((r) => setTimeout(r, 50));
  start = now();
  for (let i = 0; i < n; i++) idle.send(payload);
  const bufferCost = (now() - start) / n;
  idle.close();
  return { open: openCost, buffering: bufferCost, n };
}

function rss() {
  return process.memoryUsage().rss;
}

async function scale({ url, n }) {
  global.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const before = rss();
  const start = now();
  const sockets = [];
  let next = 0;
  async function lane() {
    while (next < n) {
      next++;
      const ws = open(url);
      sockets.push(ws);
      await opened(ws);
    }
  }
  await Promise.all(Array.from({ length: 200 }, lane));
  const openSeconds = now() - start;
  global.gc?.();
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss();
  const cpu0 = process.cpuUsage();
  const wall0 = now();
  await new Promise((r) => setTimeout(r, 3000));
  const cpu = process.cpuUsage(cpu0);
  return {
    sockets: n,
    open_seconds: openSeconds,
    rss_per_socket: (after - before) / n,
    idle_cpu_share: (cpu.user + cpu.system) / 1e6 / (now() - wall0),
  };
}

function startServer(port) {
  return new Promise((resolve, reject) => {
    const proc = spawn(spec.python, ["-m", "bench.server", String(port)], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
    let text = "";
    proc.stdout.on("data", (chunk) => {
      text += chunk;
      const m = /LISTENING ([0-9.]+)/.exec(text);
      if (m) resolve({ proc, listening: Number(m[1]) });
    });
    proc.on("exit", () => reject(new Error("server exited")));
  });
}

// CLOCK_MONOTONIC, the clock of the server's LISTENING line
const monotonic = () => Number(process.hrtime.bigint()) / 1e9;

async function recovery({ n, port }) {
  let server = await startServer(port);
  const ws = open(`ws://127.0.0.1:${port}/`, {
    minReconnectionDelay: 50,
    maxReconnectionDelay: 200,
    reconnectionDelayGrowFactor: 1.3,
    minUptime: 0,
  });
  ws.binaryType = "arraybuffer";
  await opened(ws);
  let openedAt = [];
  let onMsg = null;
  ws.addEventListener("open", () => openedAt.push(monotonic()));
  ws.addEventListener("message", () => onMsg?.(monotonic()));
  const cycles = [];
  for (let i = 0; i < n; i++) {
    const closed = new Promise((r) => ws.addEventListener("close", r, { once: true }));
    server.proc.kill("SIGKILL");
    await closed;
    ws.send(Buffer.from("buffered"));
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
    openedAt = [];
    const got = new Promise((r) => (onMsg = r));
    server = await startServer(port);
    const at = await got;
    // partysocket does not report its delays; the schedule is the same as ours
    cycles.push({ to_open: openedAt[0] - server.listening, to_message: at - server.listening, scheduled_delay: 0.2 });
  }
  ws.close();
  server.proc.stdin.end();
  const median = (k) => cycles.map((c) => c[k]).sort((a, b) => a - b)[cycles.length >> 1];
  const max = (k) => Math.max(...cycles.map((c) => c[k]));
  return {
    to_open_median: median("to_open"),
    to_open_max: max("to_open"),
    to_message_median: median("to_message"),
    to_message_max: max("to_message"),
    cycles,
  };
}

const cases = { throughput, latency, send_cost: sendCost, scale, recovery, import: async () => ({ seconds: importSeconds }) };
const run = cases[spec.case];
const result = run ? await run(spec) : { skipped: `${spec.case} is not measured for the reference client` };
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
