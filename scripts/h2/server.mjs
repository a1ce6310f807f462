// A WebSocket-over-HTTP/2 server (RFC 8441) written on Node's built-in `http2` module,
// owing nothing to wspp: it answers an extended CONNECT (`:protocol websocket`) with
// 200, then speaks the WebSocket frames on the stream by hand: a Ping gets a Pong with
// its payload, a Text or Binary message comes back as it was, a Close is answered.
// scripts/h2-test.sh points `wsppclient ping --http2` at it.
//
//   node server.mjs h2c|tls [--no-connect-protocol] [KEY_FILE CERT_FILE]
//
// Listens on a free loopback port and prints `listening PORT` once it does. With
// --no-connect-protocol its SETTINGS leave out SETTINGS_ENABLE_CONNECT_PROTOCOL, as an
// HTTP/2 server that does not take WebSockets: a client must not open one there.
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { Frames, frame, CLOSE, PING, PONG } from './websocket.mjs';

const args = process.argv.slice(2);
const mode = args.shift();
const connectProtocol = args[0] !== '--no-connect-protocol';
if (!connectProtocol) args.shift();
const [keyFile, certFile] = args;

const settings = { enableConnectProtocol: connectProtocol };
const server = mode === 'tls'
  ? http2.createSecureServer({ key: readFileSync(keyFile), cert: readFileSync(certFile), settings })
  : http2.createServer({ settings });

server.on('stream', (stream, headers) => {
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 404 }, { endStream: true });
    return;
  }
  if (headers['sec-websocket-version'] !== '13') {
    stream.respond({ ':status': 400, 'sec-websocket-version': '13' }, { endStream: true });
    return;
  }
  stream.respond({ ':status': 200 });
  const send = (opcode, payload) => stream.write(frame(opcode, payload, { mask: false }));
  new Frames(stream, (f) => {
    // Frames from a client are masked (RFC 6455, 5.1): an unmasked one ends the stream.
    if (!f.masked) { stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR); return; }
    if (f.opcode === PING) send(PONG, f.payload);
    else if (f.opcode === CLOSE) { send(CLOSE, f.payload.subarray(0, 2)); stream.end(); }
    else if (f.opcode !== PONG) send(f.opcode, f.payload);
  });
  stream.on('error', () => {});
});
server.on('sessionError', () => {});

server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
