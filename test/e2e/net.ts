// Clients for end-to-end tests in Node: a real WebSocket, and a raw TCP
// connection that can vanish without a Close frame, as a dropped phone does.
import { type Socket, connect as tcpConnect } from "node:net";
import { type Client, track } from "../shared/client";

/** Opens a WebSocket (Node's own) and starts queueing its frames. */
export async function connect(url: string): Promise<Client<WebSocket>> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`could not open ${url}`)), { once: true });
  });
  return track(ws);
}

/**
 * Upgrades a plain TCP connection to WebSocket by hand and returns it once
 * the server said 101. `socket.destroy()` then ends it with no Close frame.
 */
export function rawConnect(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1", () => {
      socket.write(
        [
          `GET ${path} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}`,
          "Sec-WebSocket-Version: 13",
          "",
          "",
        ].join("\r\n"),
      );
    });
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        socket.off("data", onData);
        socket.on("data", () => {}); // keep reading frames so the server is never blocked
        if (head.startsWith("HTTP/1.1 101")) resolve(socket);
        else reject(new Error(`no upgrade: ${head.split("\r\n")[0]}`));
      }
    };
    socket.on("data", onData);
    socket.on("error", reject);
  });
}

export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

/** A hand-made WebSocket connection: any request line, any frame bytes. */
export interface RawConnection {
  socket: Socket;
  /** The status line of the server's answer, e.g. `HTTP/1.1 101 Switching Protocols`. */
  status: string;
  /** Sends one masked frame with this opcode (1 text, 2 binary, 8 close) and payload. */
  send(opcode: number, payload: Uint8Array): void;
  /** The next frame the server sends, or a failure after `ms`. */
  next(ms?: number): Promise<RawFrame>;
}

/**
 * Sends `METHOD path` with the WebSocket handshake headers (and `headers`)
 * and reads the answer's head.
 */
export function rawHandshake(
  port: number,
  path: string,
  method = "GET",
  headers: Record<string, string> = {},
): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1", () => {
      socket.write(
        [
          `${method} ${path} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}`,
          "Sec-WebSocket-Version: 13",
          "Content-Length: 0",
          ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
          "",
          "",
        ].join("\r\n"),
      );
    });
    let buffer = Buffer.alloc(0);
    let status: string | undefined;
    const frames: RawFrame[] = [];
    const waiting: Array<(frame: RawFrame) => void> = [];
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (status === undefined) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        status = buffer.subarray(0, buffer.indexOf("\r\n")).toString("latin1");
        buffer = buffer.subarray(end + 4);
        resolve(connection(status));
      }
      for (;;) {
        const frame = parseFrame(buffer);
        if (!frame) break;
        buffer = buffer.subarray(frame.size);
        const waiter = waiting.shift();
        if (waiter) waiter(frame.frame);
        else frames.push(frame.frame);
      }
    });
    socket.on("error", reject);
    const connection = (status: string): RawConnection => ({
      socket,
      status,
      send(opcode, payload) {
        const mask = crypto.getRandomValues(new Uint8Array(4));
        const length =
          payload.length < 126
            ? Buffer.from([0x80 | payload.length])
            : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
        const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
        socket.write(Buffer.concat([Buffer.from([0x80 | opcode]), length, mask, masked]));
      },
      next(ms = 5_000) {
        const frame = frames.shift();
        if (frame) return Promise.resolve(frame);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no frame within ${ms} ms`)), ms);
          waiting.push((frame) => {
            clearTimeout(timer);
            resolve(frame);
          });
        });
      },
    });
  });
}

/** One unmasked server frame at the start of `buffer`, if it is all there. */
function parseFrame(buffer: Buffer): { frame: RawFrame; size: number } | undefined {
  if (buffer.length < 2) return undefined;
  let length = buffer[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + length) return undefined;
  return {
    frame: { opcode: buffer[0] & 0x0f, payload: buffer.subarray(offset, offset + length) },
    size: offset + length,
  };
}
