// WebSocket frames (RFC 6455, 5.2) laid out and read by hand, for the HTTP/2 peers
// in this folder: over HTTP/2 a WebSocket is the bytes of one stream, and Node has no
// WebSocket of its own to put there, so both peers speak the frames themselves.
import { randomBytes } from 'node:crypto';

export const TEXT = 0x1, CLOSE = 0x8, PING = 0x9, PONG = 0xa;

// One frame with FIN set: masked with a fresh key as a client must send it (5.3),
// unmasked as a server must.
export function frame(opcode, payload, { mask }) {
  const len = payload.length;
  const second = mask ? 0x80 : 0;
  const head = len < 126
    ? Buffer.from([0x80 | opcode, second | len])
    : Buffer.from([0x80 | opcode, second | 126, len >> 8, len & 0xff]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, masked]);
}

// Frames as they arrive in DATA frames of any size, unmasked: each goes to the oldest
// waiter of `next()`, or to `onFrame` when one is given.
export class Frames {
  constructor(stream, onFrame) {
    this.buf = Buffer.alloc(0);
    this.queue = [];
    this.waiters = [];
    stream.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      for (let f = this.parse(); f; f = this.parse()) {
        if (onFrame) { onFrame(f); continue; }
        const waiter = this.waiters.shift();
        if (waiter) waiter(f); else this.queue.push(f);
      }
    });
  }
  parse() {
    if (this.buf.length < 2) return null;
    const masked = (this.buf[1] & 0x80) !== 0;
    let len = this.buf[1] & 0x7f;
    let at = 2;
    if (len === 126) { if (this.buf.length < 4) return null; len = this.buf.readUInt16BE(2); at = 4; }
    if (len === 127) { if (this.buf.length < 10) return null; len = Number(this.buf.readBigUInt64BE(2)); at = 10; }
    const key = masked ? this.buf.subarray(at, at + 4) : null;
    if (masked) at += 4;
    if (this.buf.length < at + len) return null;
    let payload = this.buf.subarray(at, at + len);
    if (key) payload = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
    const f = { fin: (this.buf[0] & 0x80) !== 0, opcode: this.buf[0] & 0x0f, masked, payload };
    this.buf = this.buf.subarray(at + len);
    return f;
  }
  next() {
    const f = this.queue.shift();
    return f ? Promise.resolve(f) : new Promise((resolve) => this.waiters.push(resolve));
  }
}
