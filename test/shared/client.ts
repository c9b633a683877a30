// A test's view of one WebSocket, in workerd or in Node: frames queued as
// they arrive, awaited with a timeout that fails with a clear message.

/** The part of a WebSocket both runtimes share. */
export interface SocketLike {
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(
    type: "close",
    listener: (event: { code: number; reason: string; wasClean: boolean }) => void,
  ): void;
}

export interface Closed {
  code: number;
  reason: string;
  wasClean: boolean;
}

export interface Client<S extends SocketLike = SocketLike> {
  ws: S;
  /** The next text frame, or a clear failure after `ms`. */
  next(ms?: number): Promise<string>;
  /** The close, or a clear failure after `ms`. */
  closed(ms?: number): Promise<Closed>;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

/** Starts queueing the frames of an open socket. */
export function track<S extends SocketLike>(ws: S): Client<S> {
  const frames: string[] = [];
  const waiting: Array<(frame: string) => void> = [];
  let closeEvent: Closed | undefined;
  const closeWaiters: Array<(event: Closed) => void> = [];
  ws.addEventListener("message", (event) => {
    const data = typeof event.data === "string" ? event.data : "<binary>";
    const waiter = waiting.shift();
    if (waiter) waiter(data);
    else frames.push(data);
  });
  ws.addEventListener("close", (event) => {
    closeEvent = { code: event.code, reason: event.reason, wasClean: event.wasClean };
    // Answer a server-initiated close as a browser does, so the server's
    // socket leaves CLOSING (workerd's own client does not reply by itself).
    try {
      ws.close(event.code === 1005 ? 1000 : event.code, "client completes close");
    } catch {
      // already closed
    }
    for (const waiter of closeWaiters.splice(0)) waiter(closeEvent);
  });
  return {
    ws,
    next(ms = 5_000) {
      const frame = frames.shift();
      if (frame !== undefined) return Promise.resolve(frame);
      let waiter: ((frame: string) => void) | undefined;
      const arrival = new Promise<string>((resolve) => {
        waiter = resolve;
        waiting.push(resolve);
      });
      return withTimeout(arrival, ms, "a frame").catch((error) => {
        // A wait that timed out gives up its place: the next frame is queued
        // for the next `next()`, not handed to a waiter nobody awaits.
        const at = waiting.indexOf(waiter as (frame: string) => void);
        if (at >= 0) waiting.splice(at, 1);
        throw error;
      });
    },
    closed(ms = 5_000) {
      if (closeEvent) return Promise.resolve(closeEvent);
      return withTimeout(new Promise((resolve) => closeWaiters.push(resolve)), ms, "the close");
    },
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}
