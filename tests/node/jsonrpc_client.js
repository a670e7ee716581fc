// A JSON-RPC client on vscode-jsonrpc (the library VS Code speaks LSP with), against
// tendril-net's jsonrpc_server example, over TCP or over the server's stdin/stdout:
//
//   node jsonrpc_client.js tcp PORT
//   node jsonrpc_client.js stdio SERVER_BINARY
//
// It serves `whoami` (answering `js-N`, N counting its answers) and `log`
// notifications, makes 200 `greet` calls at once (each must be answered with the
// result of its own `whoami` callback, so 200 distinct answers), checks `add`, an
// unknown method and a cancelled `sleep`, and prints one JSON line with what it saw.
// Every wait is bounded; any failure exits 1 with the reason.
'use strict';
const net = require('net');
const { spawn } = require('child_process');
const rpc = require('vscode-jsonrpc/node');

const LIMIT_MS = 20000;
const [mode, target] = process.argv.slice(2);

function fail(message) {
  console.error(`jsonrpc_client.js: ${message}`);
  process.exit(1);
}
setTimeout(() => fail(`not done within ${LIMIT_MS} ms`), LIMIT_MS).unref();

async function open() {
  if (mode === 'tcp') {
    const socket = net.connect(Number(target), '127.0.0.1');
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return { reader: new rpc.SocketMessageReader(socket), writer: new rpc.SocketMessageWriter(socket), child: null };
  }
  if (mode === 'stdio') {
    const child = spawn(target, ['--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    return { reader: new rpc.StreamMessageReader(child.stdout), writer: new rpc.StreamMessageWriter(child.stdin), child };
  }
  fail(`unknown mode ${mode}`);
}

async function main() {
  const { reader, writer, child } = await open();
  const connection = rpc.createMessageConnection(reader, writer);
  let answered = 0;
  const logs = [];
  connection.onRequest('whoami', () => `js-${answered++}`);
  connection.onNotification('log', (params) => logs.push(params.message));
  connection.listen();

  const greets = await Promise.all(Array.from({ length: 200 }, () => connection.sendRequest('greet', {})));
  const distinct = new Set(greets);
  if (distinct.size !== 200) fail(`${distinct.size} distinct greet answers of 200`);
  for (const answer of greets) {
    const n = Number(/^hello js-(\d+)$/.exec(answer)?.[1]);
    if (!(n >= 0 && n < 200)) fail(`unexpected greet answer ${JSON.stringify(answer)}`);
  }
  for (let waited = 0; logs.length < 200 && waited < 5000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (logs.length !== 200) fail(`${logs.length} log notifications of 200`);

  const sum = await connection.sendRequest('add', 2, 3); // params by position: [2, 3]
  if (sum !== 5) fail(`add [2, 3] = ${sum}`);

  let unknown = null;
  try {
    await connection.sendRequest('no/such/method', {});
  } catch (err) {
    unknown = err.code;
  }
  if (unknown !== -32601) fail(`unknown method answered ${unknown}`);

  const source = new rpc.CancellationTokenSource();
  const started = Date.now();
  const sleeping = connection.sendRequest('sleep', { ms: 30000 }, source.token);
  setTimeout(() => source.cancel(), 100);
  let cancelled = null;
  try {
    await sleeping;
  } catch (err) {
    cancelled = err.code;
  }
  const cancelMs = Date.now() - started;
  if (cancelled !== -32800) fail(`cancelled sleep answered ${cancelled}`);
  if (cancelMs > 5000) fail(`cancelled sleep took ${cancelMs} ms`);

  console.log(JSON.stringify({ greets: distinct.size, logs: logs.length, whoami: answered, add: sum, unknown, cancelled, cancelMs }));
  connection.dispose();
  if (child) {
    child.stdin.end();
    const code = await new Promise((resolve) => child.once('exit', resolve));
    if (code !== 0) fail(`the server exited with ${code}`);
  }
  process.exit(0);
}

main().catch((err) => fail(err && err.stack || String(err)));
