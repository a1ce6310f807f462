// An HTTP/2 WebSocket client written on Node's built-in `http2` module, owing nothing
// to wspp: it opens /pingpong with an extended CONNECT (RFC 8441), lays out and reads
// the WebSocket frames inside the stream by hand (RFC 6455: websocket.mjs), and prints
// one line per check, `ok NAME` or `FAIL NAME: why`. scripts/h2-test.sh runs it
// against wsppsrv.
//
//   node client.mjs URL [CA_FILE]     URL: http://HOST:PORT (h2c) or https://HOST:PORT
//
// Exit status 0 when every check passed, 1 otherwise.
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { Frames, frame as wsFrame, TEXT, CLOSE, PING, PONG } from './websocket.mjs';

const [url, caFile] = process.argv.slice(2);
const label = url.startsWith('https:') ? 'h2' : 'h2c';
let failed = 0;
const ok = (name) => console.log(`ok ${label} ${name}`);
const fail = (name, why) => {
  failed += 1;
  console.log(`FAIL ${label} ${name}: ${why}`);
};

// Every wait is bounded: a check that gets no answer fails instead of hanging.
const within = (promise, what, ms = 5000) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)),
  ]);

const frame = (opcode, payload) => wsFrame(opcode, payload, { mask: true });

async function main() {
  const options = caFile ? { ca: readFileSync(caFile) } : {};
  const session = http2.connect(url, options);
  session.on('error', (e) => fail('session', e.message));
  const settings = await within(new Promise((resolve) => session.once('remoteSettings', resolve)), 'SETTINGS');
  if (settings.enableConnectProtocol) ok('SETTINGS_ENABLE_CONNECT_PROTOCOL');
  else return fail('SETTINGS_ENABLE_CONNECT_PROTOCOL', `not in ${JSON.stringify(settings)}`);

  const connect = (version) => session.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':path': '/pingpong',
    'sec-websocket-version': version,
    'user-agent': 'node-http2-test',
  }, { endStream: false });

  // A wrong version: 400, and the version spoken.
  const wrong = connect('8');
  const wrongHead = await within(new Promise((resolve) => wrong.once('response', resolve)), 'answer to version 8');
  if (wrongHead[':status'] === 400 && wrongHead['sec-websocket-version'] === '13') ok('version 8 refused with 400');
  else fail('version 8 refused with 400', JSON.stringify(wrongHead));
  wrong.close();

  const ws = connect('13');
  const frames = new Frames(ws);
  const head = await within(new Promise((resolve) => ws.once('response', resolve)), 'answer to the CONNECT');
  if (head[':status'] !== 200) return fail('CONNECT answered 200', JSON.stringify(head));
  ok('CONNECT answered 200');

  const ping = await within(frames.next(), "the server's Ping");
  if (ping.opcode === PING && !ping.masked) ok("server's Ping, unmasked");
  else fail("server's Ping, unmasked", `opcode ${ping.opcode} masked ${ping.masked}`);
  ws.write(frame(PONG, ping.payload));

  ws.write(frame(TEXT, Buffer.from('hello over http/2')));
  let echo = await within(frames.next(), 'echo');
  while (echo.opcode === PING) { ws.write(frame(PONG, echo.payload)); echo = await within(frames.next(), 'echo'); }
  if (echo.opcode === TEXT && echo.payload.toString() === 'hello over http/2') ok('masked Text echoed');
  else fail('masked Text echoed', `opcode ${echo.opcode} payload ${echo.payload}`);

  // The same connection serves the list, which shows this client over HTTP/2 with
  // its Pong counted.
  let listed = null;
  for (let i = 0; i < 50 && !listed; i++) {
    const get = session.request({ ':path': '/clients.json' });
    let body = '';
    get.setEncoding('utf8');
    get.on('data', (d) => { body += d; });
    await within(new Promise((resolve) => get.on('end', resolve)), '/clients.json');
    listed = JSON.parse(body).clients.find((c) => c.user_agent === 'node-http2-test' && c.pongs_received >= 1);
    if (!listed) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (listed && listed.http_version === '2') ok('/clients.json shows http_version "2"');
  else fail('/clients.json shows http_version "2"', JSON.stringify(listed));

  const code = Buffer.from([0x03, 0xe8]);
  ws.write(frame(CLOSE, code));
  let close = await within(frames.next(), 'Close');
  while (close.opcode === PING) close = await within(frames.next(), 'Close');
  if (close.opcode === CLOSE && close.payload.readUInt16BE(0) === 1000) ok('Close 1000 answered');
  else fail('Close 1000 answered', `opcode ${close.opcode}`);
  ws.end();
  session.close();
}

main()
  .catch((e) => fail('run', e.message))
  .finally(() => process.exit(failed === 0 ? 0 : 1));
