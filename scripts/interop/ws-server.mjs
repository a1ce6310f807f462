// An echo server on Node's `ws` package with permessage-deflate on, as Node servers
// enable it (`perMessageDeflate: true`: its defaults, which compress only messages of
// 1024 bytes or more), for wsppclient's interop checks. It owes nothing to wspp.
//
//   node ws-server.mjs MODULES     MODULES: the node_modules folder `ws` is installed in
//
// It listens on 127.0.0.1 port 0, prints `port N` once listening, echoes every Text and
// Binary message on any path, and runs until it is killed (the script that starts it
// stops it by PID).
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules] = process.argv.slice(2);
if (!modules) {
  console.error('usage: node ws-server.mjs NODE_MODULES_DIR');
  process.exit(2);
}
// `ws` lives in the script's cache folder, not beside this file.
const require = createRequire(path.join(path.resolve(modules), 'index.js'));
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
server.on('listening', () => console.log(`port ${server.address().port}`));
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});
