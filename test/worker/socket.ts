// A WebSocket client for tests in the Workers runtime: connect through the
// Worker (or straight to a Durable Object) and await frames with a timeout.
import { env, exports } from "cloudflare:workers";

export interface Client {
  ws: WebSocket;
  /** The next text frame, or a clear failure after `ms`. */
  next(ms?: number): Promise<string>;
  /** The close event, or a clear failure after `ms`. */
  closed(ms?: number): Promise<CloseEvent>;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

/** Opens a socket through the Worker's fetch handler. */
export async function connectWorker(path: string, init: RequestInit = {}): Promise<Client> {
  const response = await exports.default.fetch(`http://example.com${path}`, {
    ...init,
    headers: { Upgrade: "websocket", ...(init.headers ?? {}) },
  });
  return open(response);
}

/** Opens a socket on the seed Durable Object class under a name of the test's own. */
export async function connectObject(name: string): Promise<Client> {
  const response = await env.WEBSOCKET_HIBERNATION_SERVER.getByName(name).fetch(
    "http://example.com/websocket",
    { headers: { Upgrade: "websocket" } },
  );
  return open(response);
}

/** A Durable Object name no other test uses. */
export function freshName(): string {
  return `room-${crypto.randomUUID()}`;
}

function open(response: Response): Client {
  const ws = response.webSocket;
  if (response.status !== 101 || !ws) {
    throw new Error(`expected 101 with a WebSocket, got ${response.status}`);
  }
  ws.accept();
  const frames: string[] = [];
  const waiting: Array<(frame: string) => void> = [];
  let closeEvent: CloseEvent | undefined;
  const closeWaiters: Array<(event: CloseEvent) => void> = [];
  ws.addEventListener("message", (event) => {
    const data = typeof event.data === "string" ? event.data : "<binary>";
    const waiter = waiting.shift();
    if (waiter) waiter(data);
    else frames.push(data);
  });
  ws.addEventListener("close", (event) => {
    closeEvent = event;
    // Answer a server-initiated close as a browser does, so the server's
    // socket leaves CLOSING (the runtime here does not reply by itself).
    try {
      ws.close(event.code === 1005 ? 1000 : event.code, "client completes close");
    } catch {
      // already closed
    }
    for (const waiter of closeWaiters.splice(0)) waiter(event);
  });
  return {
    ws,
    next(ms = 5_000) {
      const frame = frames.shift();
      if (frame !== undefined) return Promise.resolve(frame);
      return withTimeout(new Promise((resolve) => waiting.push(resolve)), ms, "a frame");
    },
    closed(ms = 5_000) {
      if (closeEvent) return Promise.resolve(closeEvent);
      return withTimeout(new Promise((resolve) => closeWaiters.push(resolve)), ms, "the close");
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
