// A client for one room, for browsers, Node and tests: typed frames, reconnect
// with exponential backoff and full jitter, sends queued while disconnected,
// a connect timeout, tokens from the application fetched before every attempt,
// and a clean close; presence (who is in the room) kept up to date from the
// frames; typing indicators, throttled; and no message lost across a
// reconnect: it resumes the room's history from the last message it saw and
// delivers each one exactly once. The frame types come from the Rust core
// (pkg/core.d.ts) as types only, so this file needs no Wasm at run time.
import type { ClientFrame, Peer, ServerFrame, TokenExpiredReason } from "../pkg/core.js";
import { unhandled } from "./unhandled";

export type { ClientFrame, Peer, ServerFrame };

/** The part of a WebSocket that browsers, Node and workerd share. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open", listener: () => void): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(
    type: "close",
    listener: (event: { code: number; reason: string }) => void,
  ): void;
  addEventListener(type: "error", listener: () => void): void;
}

/**
 * Opens a socket to `url`. It may return a socket that is still connecting (it
 * then fires `open`, or `error` if the upgrade fails), or a promise of an open
 * one (as workerd's `fetch` with `Upgrade: websocket` gives). A rejection
 * counts as a failed attempt; a `connect` that sees the HTTP answer rejects
 * with {@link UpgradeRefused} so the client can tell a 401 from a network error.
 */
export type Connect = (url: string) => SocketLike | Promise<SocketLike>;

/**
 * The server answered the upgrade with `status` instead of 101. A `WebSocket`
 * hides this status (browsers and Node fire a bare `error`), so only a
 * `connect` that makes the request itself, such as {@link fetchConnect}, can
 * reject with it.
 */
export class UpgradeRefused extends Error {
  override readonly name = "UpgradeRefused";
  constructor(
    readonly status: number,
    message = `upgrade refused: ${status}`,
  ) {
    super(message);
  }
}

/** The part of workerd's `Response` to an upgrade that `fetchConnect` reads. */
export interface UpgradeResponse<S extends SocketLike> {
  readonly status: number;
  readonly webSocket?: (S & { accept(): void }) | null;
  text(): Promise<string>;
}

/**
 * A `Connect` for workerd (a Worker or Durable Object as a room's client):
 * the upgrade is a `fetch` with `Upgrade: websocket`, so the status is seen
 * and a refusal rejects with {@link UpgradeRefused}, its message from the
 * server's JSON error (`upgrade refused: 401 unauthorized (expired)`).
 */
export function fetchConnect<S extends SocketLike>(
  fetcher: (url: string, init: { headers: Record<string, string> }) => Promise<UpgradeResponse<S>>,
): (url: string) => Promise<S> {
  return async (url) => {
    const response = await fetcher(url.replace(/^ws/, "http"), {
      headers: { Upgrade: "websocket" },
    });
    const socket = response.webSocket;
    if (response.status === 101 && socket) {
      socket.accept();
      return socket;
    }
    throw new UpgradeRefused(response.status, refusalOf(response.status, await response.text()));
  };
}

/** `upgrade refused: STATUS[ CODE][ (REASON)]` from the server's `{"error":{…}}` body. */
function refusalOf(status: number, body: string): string {
  let error: { code?: unknown; reason?: unknown } = {};
  try {
    error = (JSON.parse(body) as { error?: typeof error }).error ?? {};
  } catch {
    // not the server's JSON: the status alone
  }
  const code = typeof error.code === "string" ? ` ${error.code}` : "";
  const reason = typeof error.reason === "string" ? ` (${error.reason})` : "";
  return `upgrade refused: ${status}${code}${reason}`;
}

/** What a token provider is told about the attempt it supplies a token for. */
export interface TokenRequest {
  /** The attempt's number, as in the `connecting` status: 1, then one more per failure in a row. */
  attempt: number;
  /**
   * The server refused or expired the previous token (a 401 on upgrade, or a
   * close 1008 "token expired"): return a fresh one, not a cached one. A
   * `WebSocket` cannot tell a 401 from a network error (see `UpgradeRefused`):
   * there, `attempt > 1` is all the provider learns.
   */
  rejected: boolean;
}

/** Called before every connection attempt; its token goes into the URL as `?token=`. */
export type TokenProvider = (request: TokenRequest) => string | Promise<string>;

export interface Backoff {
  /** Upper bound of the first retry's delay. Default 500 ms. */
  initialMs: number;
  /** Upper bound of any delay. Default 30 s. */
  maxMs: number;
  /** Growth of the upper bound per failed attempt. Default 2. */
  factor: number;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type RoomClientOptions = (
  | { url: string }
  | {
      /** `ws://host:port` or `wss://host`; the room's path is added. */
      base: string;
      room: string;
      /** The display name (`?name=`); the server picks `guest-XXXX` without it. */
      name?: string;
    }
) & {
  /** A WebSocket constructor; default `globalThis.WebSocket`. Ignored when `connect` is given. */
  WebSocket?: new (
    url: string,
  ) => SocketLike;
  /** Opens the socket; default `new WebSocket(url)`. */
  connect?: Connect;
  backoff?: Partial<Backoff>;
  /** Most frames kept while disconnected; `send` refuses more. Default 100. */
  queueLimit?: number;
  /**
   * Sends the text `ping` this often while open (the runtime answers `pong`
   * without waking the room). A missing `pong` by the next ping counts as a
   * dropped connection. The server closes a socket that sent nothing for
   * `IDLE_TIMEOUT_SECONDS` (default 120 s), so the default,
   * {@link DEFAULT_KEEPALIVE_MS} (30 s), leaves room for three lost pings
   * and for browsers that run a background tab's timers once a minute.
   * 0 turns it off; otherwise at least 1000 ms.
   */
  keepaliveMs?: number;
  /** In [0, 1); default Math.random. For tests. */
  random?: () => number;
  /** Default the global timers. For tests. */
  timers?: Timers;
  /** Open at once (default) or wait for `open()`. */
  autoOpen?: boolean;
  /**
   * A token for `?token=` (servers with `AUTH_SECRET`): a fixed string, or a
   * function called before every attempt (sync or async), which may fetch one
   * from the application's own login endpoint. With a function, a token the
   * server refuses (401) or expires (close 1008 "token expired") is replaced
   * by a fresh one and the client reconnects; with a string or none, it ends
   * `closed`, since the same token would be refused again.
   */
  token?: string | TokenProvider;
  /**
   * Most time an attempt may take, from its start (the token provider
   * included) until the socket is open; then it counts as failed. Default 10 s.
   */
  connectTimeoutMs?: number;
  /** Least time between two `typing` frames that `typing()` sends. Default {@link DEFAULT_TYPING_INTERVAL_MS}. */
  typingIntervalMs?: number;
};

/** Why the client is closed for good. */
export interface Closed {
  /** The close code; 1006 when the connection never opened. */
  code: number;
  reason: string;
  /**
   * `client`: `close()` was called; `server`: a close code or a refused
   * upgrade that means "do not retry".
   */
  by: "client" | "server";
  /** The HTTP status of a refused upgrade, when the `connect` could see it. */
  status?: number;
}

export type Status =
  | { state: "idle" }
  | { state: "connecting"; attempt: number }
  | { state: "open" }
  | {
      state: "reconnecting";
      /** How long until the next attempt. */
      delayMs: number;
      /** Failed attempts in a row, this one included (1 for the first). */
      attempt: number;
      /** The close that caused it (1006 when the connection dropped or never opened). */
      code: number;
      reason: string;
      /** The HTTP status of a refused upgrade, when the `connect` could see it. */
      status?: number;
    }
  | ({ state: "closed" } & Closed);

/**
 * Who is in the room, as the client knows it. The server lists at most
 * `limit` members in a welcome and pushes joins, leaves and renames only while
 * the room holds at most `limit`: above that, `peers` is a sample and `count`
 * the room's size when last told (a welcome, a `roster` page); `loadPresence()`
 * pages through the whole room.
 */
export interface Presence {
  /** This connection. */
  self: Peer;
  /** Members in the room, self included. */
  count: number;
  /** The members known, self included, in join order as far as the server listed them. */
  peers: Peer[];
  /** Whether `peers` is everyone (`count` of them). */
  complete: boolean;
  /** The server's PRESENCE_LIMIT: most members a welcome or `roster` page lists. */
  limit: number;
}

/** A chat message as the server sends it (`seq` when the room keeps history). */
export type Message = Extract<ServerFrame, { type: "message" }>;

/**
 * What a connection's `history` frame brought, told before its messages are
 * delivered (as `message` events).
 */
export interface HistoryEvent {
  /** This connection resumed an earlier one (`?since=&epoch=`). */
  resumed: boolean;
  /**
   * Every message since the earlier connection follows, none lost. False on
   * a first connection (the room's recent messages follow) and after a gap
   * the server could not fill: more were missed than it keeps, or its
   * history was reset.
   */
  recovered: boolean;
  /** How many messages follow that the client had not delivered yet. */
  missed: number;
}

export interface RoomClientEvents {
  /** A JSON frame from the server, as it came (a `history` frame, a `message` again…). */
  frame: ServerFrame;
  /**
   * Each chat message once, in order: live ones and those a reconnect
   * recovered, deduplicated by `seq`. Apps that show messages listen here.
   */
  message: Message;
  /** A connection's history arrived; its messages follow as `message` events. */
  history: HistoryEvent;
  /** `presence` changed (after the `frame` event of the frame that changed it). */
  presence: Presence;
  status: Status;
  /** A text frame that is not JSON, such as the keepalive's `pong`. */
  text: string;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000, factor: 2 };

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The keepalive's default period: a quarter of the server's default idle timeout (120 s). */
export const DEFAULT_KEEPALIVE_MS = 30_000;

/**
 * How often `typing()` lets a `typing` frame out: a little over the server's
 * window (one relayed per member per 2 s, rust/src/room/typing.rs), so that
 * network jitter does not make the server drop every other one.
 */
export const DEFAULT_TYPING_INTERVAL_MS = 2_500;

const OPEN = 1;

/** Close codes after which reconnecting would fail again the same way. */
export function isFinalCloseCode(code: number): boolean {
  return [1002, 1003, 1007, 1008, 1009, 1010].includes(code) || (code >= 4000 && code <= 4499);
}

/**
 * HTTP statuses of a refused upgrade after which retrying would fail again the
 * same way: a 4xx, except 408 and 429 (try later). 401 is the token's: see the
 * `token` option. 5xx (503 `room_full`) are retried with backoff.
 */
export function isFinalStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * The words the server's close for an expired token starts with. Its type
 * comes from the Rust core (`TOKEN_EXPIRED` in rust/src/error.rs), so `tsc`
 * fails if this literal and the server's ever differ.
 */
export const TOKEN_EXPIRED: TokenExpiredReason = "token expired";

/**
 * Whether a close says the token expired: code 1008 with a reason starting
 * {@link TOKEN_EXPIRED}, as the server closes a socket at its first frame at
 * or after the token's `exp`.
 */
export function isTokenExpiredClose(code: number, reason: string): boolean {
  return code === 1008 && reason.startsWith(TOKEN_EXPIRED);
}

/** `url` with each query parameter of `params` set (replacing any), the rest of its query kept as it is. */
export function withQuery(url: string, params: Record<string, string>): string {
  const at = url.indexOf("?");
  const path = at < 0 ? url : url.slice(0, at);
  const query = at < 0 ? "" : url.slice(at + 1);
  const names = Object.keys(params);
  const kept = query
    .split("&")
    .filter(
      (pair) => pair !== "" && !names.some((name) => pair === name || pair.startsWith(`${name}=`)),
    );
  for (const [name, value] of Object.entries(params)) {
    kept.push(`${name}=${encodeURIComponent(value)}`);
  }
  return `${path}?${kept.join("&")}`;
}

/** `url` with `?token=` set to `token` (replacing any), the rest of its query kept as it is. */
export function withToken(url: string, token: string): string {
  return withQuery(url, { token });
}

/** The path of a room (its stats; its socket is this + `/websocket`). */
export function roomPath(room: string): string {
  return `/rooms/${encodeURIComponent(room)}`;
}

/** The URL of a room's socket. */
export function roomUrl(base: string, room: string, name?: string): string {
  const query = name === undefined ? "" : `?name=${encodeURIComponent(name)}`;
  return `${base.replace(/\/+$/, "")}${roomPath(room)}/websocket${query}`;
}

/**
 * Full jitter (a uniform delay between 0 and the exponential bound): clients
 * cut off together do not come back together.
 */
export function backoffDelay(backoff: Backoff, failures: number, random: () => number): number {
  const bound = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** failures);
  return Math.floor(random() * bound);
}

type Listener<K extends keyof RoomClientEvents> = (value: RoomClientEvents[K]) => void;

export class RoomClient {
  readonly url: string;
  private readonly connectSocket: Connect;
  private readonly backoff: Backoff;
  private readonly queueLimit: number;
  private readonly keepaliveMs: number;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly token: string | TokenProvider | undefined;
  private readonly connectTimeoutMs: number;
  private readonly listeners: { [K in keyof RoomClientEvents]: Set<Listener<K>> } = {
    frame: new Set(),
    message: new Set(),
    history: new Set(),
    presence: new Set(),
    status: new Set(),
    text: new Set(),
  };
  private readonly queue: string[] = [];
  private socket: SocketLike | null = null;
  /** Failed attempts since the last successful open. */
  private failures = 0;
  private retryTimer: unknown = null;
  private keepaliveTimer: unknown = null;
  private connectTimer: unknown = null;
  /** Pending while `typing()` is throttled. */
  private typingTimer: unknown = null;
  private readonly typingIntervalMs: number;
  /** Counts attempts; a socket or token that arrives for an older one is dropped. */
  private attempts = 0;
  /** The server refused or expired the last token: the provider is told so until it gives another. */
  private tokenRejected = false;
  /** A fresh token was tried at once since the last open (after that: backoff). */
  private freshTokenTried = false;
  private awaitingPong = false;
  private current: Status = { state: "idle" };
  /** Presence: null until the first welcome. */
  private self: Peer | null = null;
  private count = 0;
  private limit = 0;
  /** The members known, self included: id → name, in the order learnt. */
  private readonly peers = new Map<string, string>();
  /** The `loadPresence()` in progress. */
  private listing: Listing | null = null;
  /** The room's history as far as this client saw it: its epoch (null before a welcome that names one)… */
  private epoch: string | null = null;
  /** …and the seq of the last message delivered, or of the room when it joined. */
  private lastSeq = 0;
  /** The room's last seq as the current connection's welcome said. */
  private welcomeSeq = 0;
  /** Whether the current attempt resumes (`?since=&epoch=`). */
  private resuming = false;
  /** See `recovered`. */
  private lastRecovered: boolean | null = null;

  constructor(options: RoomClientOptions) {
    this.url = "url" in options ? options.url : roomUrl(options.base, options.room, options.name);
    this.connectSocket = options.connect ?? defaultConnect(options.WebSocket);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.queueLimit = options.queueLimit ?? 100;
    this.keepaliveMs = options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (this.keepaliveMs !== 0 && !(this.keepaliveMs >= 1000)) {
      throw new RangeError(`keepaliveMs must be 0 (off) or at least 1000, got ${this.keepaliveMs}`);
    }
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as number),
    };
    this.token = options.token;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!(this.connectTimeoutMs > 0 && Number.isFinite(this.connectTimeoutMs))) {
      throw new RangeError(
        `connectTimeoutMs must be a positive number, got ${this.connectTimeoutMs}`,
      );
    }
    this.typingIntervalMs = options.typingIntervalMs ?? DEFAULT_TYPING_INTERVAL_MS;
    if (!(this.typingIntervalMs >= 0 && Number.isFinite(this.typingIntervalMs))) {
      throw new RangeError(`typingIntervalMs must be 0 or more, got ${this.typingIntervalMs}`);
    }
    if (options.autoOpen ?? true) this.open();
  }

  /** The current state. */
  get status(): Status {
    return this.current;
  }

  /** Why the client closed for good, or null while it is not closed. */
  get closed(): Closed | null {
    if (this.current.state !== "closed") return null;
    const { state: _, ...closed } = this.current;
    return closed;
  }

  /** Who is in the room as far as the client knows; null before the first welcome. */
  get presence(): Presence | null {
    if (this.self === null) return null;
    const peers = [...this.peers].map(([id, name]) => ({ id, name }));
    return {
      self: { ...this.self },
      count: this.count,
      peers,
      complete: peers.length >= this.count,
      limit: this.limit,
    };
  }

  /**
   * Pages through the whole room with `who` (each page at most the presence
   * limit, the next asked `after` the previous page's `next`) and makes
   * `presence` complete. Members leaving meanwhile do not disturb it (a cursor
   * is a place in the join order), and a listing cannot outlive its connection,
   * so it never starts over. Rejects if the connection is not open or drops, or
   * the server answers an error (`rate_limited`, `internal`, `unknown_cursor`).
   * One listing at a time: a second call while one runs gets the same promise.
   */
  loadPresence(): Promise<Presence> {
    if (this.listing) return this.listing.promise;
    if (this.self === null || this.current.state !== "open" || this.socket?.readyState !== OPEN) {
      return Promise.reject(new Error("loadPresence: not connected to the room"));
    }
    let settle: Pick<Listing, "resolve" | "reject"> | undefined;
    const promise = new Promise<Presence>((resolve, reject) => {
      settle = { resolve, reject };
    });
    if (!settle) throw new Error("unreachable: the executor runs at once");
    this.listing = { promise, ...settle, seen: new Map() };
    this.sendNow({ type: "who" });
    return promise;
  }

  /**
   * Whether the last reconnect recovered every message since the connection
   * before it: null until a reconnect resumed (or when the room keeps no
   * history), then that reconnect's answer. See `HistoryEvent`.
   */
  get recovered(): boolean | null {
    return this.lastRecovered;
  }

  /** Frames waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  /** Listens to `type`; returns a function that stops listening. */
  on<K extends keyof RoomClientEvents>(type: K, listener: Listener<K>): () => void {
    this.listeners[type].add(listener);
    return () => this.listeners[type].delete(listener);
  }

  /** Connects, if the client is idle (`autoOpen: false`). */
  open(): void {
    if (this.current.state === "idle") this.attempt();
  }

  /**
   * Sends `frame` now, or queues it until the connection is open. Returns
   * false, and keeps nothing, when the client is closed or the queue is full.
   */
  send(frame: ClientFrame): boolean {
    if (this.current.state === "closed") return false;
    const text = JSON.stringify(frame);
    if (this.socket?.readyState === OPEN && this.queue.length === 0) {
      try {
        this.socket.send(text);
        return true;
      } catch {
        // closing under us: keep it for the next connection
      }
    }
    if (this.queue.length >= this.queueLimit) return false;
    this.queue.push(text);
    return true;
  }

  /**
   * Tells the room that this user is typing: sends `{"type":"typing"}` if the
   * connection is open and `typing()` sent none in the last `typingIntervalMs`,
   * so it may be called on every keystroke. Never queued: by the time a
   * connection is back the news is stale. Returns whether it was sent. The
   * others receive `{"type":"typing","id","name"}` (a `frame` event); the
   * sender never does.
   */
  typing(): boolean {
    if (this.typingTimer !== null || this.current.state !== "open") return false;
    if (this.socket?.readyState !== OPEN) return false;
    try {
      this.socket.send(JSON.stringify({ type: "typing" } satisfies ClientFrame));
    } catch {
      return false; // closing: the close event follows
    }
    this.typingTimer = this.timers.setTimeout(() => {
      this.typingTimer = null;
    }, this.typingIntervalMs);
    return true;
  }

  /** Closes for good: no reconnect, queued frames are dropped. */
  close(code = 1000, reason = ""): void {
    if (this.current.state === "closed") return;
    this.stopTimers();
    this.queue.length = 0;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      try {
        socket.close(code, reason);
      } catch {
        // already closed
      }
    }
    this.setStatus({ state: "closed", code, reason, by: "client" });
  }

  private attempt(): void {
    this.retryTimer = null;
    const id = ++this.attempts;
    const attempt = this.failures + 1;
    this.setStatus({ state: "connecting", attempt });
    // Nothing below may leave the client connecting for ever: not a token
    // provider that never settles, nor a socket that never fires open or close.
    this.connectTimer = this.timers.setTimeout(() => {
      this.connectTimer = null;
      if (!this.live(id)) return;
      const socket = this.socket;
      this.socket = null;
      if (socket) closeQuietly(socket);
      this.failed(1006, `connect timeout: not open after ${this.connectTimeoutMs} ms`);
    }, this.connectTimeoutMs);
    void this.connect(id, { attempt, rejected: this.tokenRejected });
  }

  /** Whether attempt `id` is still the one the client waits for. */
  private live(id: number): boolean {
    return id === this.attempts && this.current.state === "connecting";
  }

  private async connect(id: number, request: TokenRequest): Promise<void> {
    // Resume from the last message seen, under the history it belongs to.
    this.resuming = this.epoch !== null;
    let url =
      this.epoch === null
        ? this.url
        : withQuery(this.url, { since: String(this.lastSeq), epoch: this.epoch });
    if (this.token !== undefined) {
      let token: unknown;
      try {
        token = typeof this.token === "string" ? this.token : await this.token(request);
      } catch (error) {
        if (this.live(id)) this.failed(1006, `token: ${messageOf(error)}`);
        return;
      }
      if (!this.live(id)) return;
      if (typeof token !== "string") {
        this.failed(1006, `token: the provider returned ${typeof token}, not a string`);
        return;
      }
      this.tokenRejected = false;
      url = withToken(url, token);
    }
    let socket: SocketLike;
    try {
      socket = await this.connectSocket(url);
    } catch (error) {
      if (this.live(id)) this.failed(1006, messageOf(error), statusOf(error));
      return;
    }
    if (!this.live(id)) {
      // closed, or timed out, while the socket was being made
      closeQuietly(socket);
      return;
    }
    this.adopt(socket);
  }

  private adopt(socket: SocketLike): void {
    this.socket = socket;
    const mine = () => this.socket === socket;
    socket.addEventListener("open", () => {
      if (mine() && this.current.state === "connecting") this.opened();
    });
    socket.addEventListener("message", (event) => {
      if (mine()) this.received(event.data);
    });
    socket.addEventListener("close", (event) => {
      // Completes a close the server started (workerd's client does not by itself).
      closeQuietly(socket);
      if (!mine()) return;
      this.socket = null;
      this.failed(event.code, event.reason);
    });
    socket.addEventListener("error", () => {
      // Not every runtime follows an error with a close: Node 22's WebSocket
      // fires only `error` for a refused upgrade and stays CONNECTING. The
      // error ends the connection here; a close that may follow is ignored.
      if (!mine()) return;
      this.socket = null;
      closeQuietly(socket);
      const opened = this.current.state === "open";
      this.failed(1006, opened ? "connection error" : "upgrade failed (refused or unreachable)");
    });
    if (socket.readyState === OPEN) this.opened();
  }

  private opened(): void {
    if (this.connectTimer !== null) this.timers.clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.failures = 0;
    this.freshTokenTried = false;
    this.setStatus({ state: "open" });
    this.flush();
    if (this.keepaliveMs > 0) {
      this.awaitingPong = false;
      this.scheduleKeepalive();
    }
  }

  private flush(): void {
    while (this.queue.length > 0 && this.socket?.readyState === OPEN) {
      try {
        this.socket.send(this.queue[0]);
      } catch {
        return; // closing: the close event follows, the rest waits
      }
      this.queue.shift();
    }
  }

  /** Sends at once, bypassing the queue (a `who` page belongs to this connection). */
  private sendNow(frame: ClientFrame): void {
    try {
      this.socket?.send(JSON.stringify(frame));
    } catch {
      // closing: the status change ends the listing
    }
  }

  /** Updates presence from a frame; true if it changed. */
  private track(frame: ServerFrame): boolean {
    switch (frame.type) {
      case "welcome": {
        if (frame.epoch !== undefined && frame.epoch !== this.epoch) {
          // Another history: the seqs seen under the old one mean nothing here.
          this.epoch = frame.epoch;
          this.lastSeq = 0;
        }
        this.welcomeSeq = frame.seq ?? 0;
        const self = frame.connections.find((peer) => peer.id === frame.id);
        this.self = { id: frame.id, name: self?.name ?? "" };
        this.count = frame.count;
        this.limit = frame.presence_limit;
        this.setPeers(frame.connections);
        return true;
      }
      case "joined":
        this.count = frame.count;
        this.peers.set(frame.id, frame.name);
        return this.self !== null;
      case "left":
        this.count = frame.count;
        this.peers.delete(frame.id);
        return this.self !== null;
      case "renamed":
        if (this.self === null) return false;
        if (frame.id === this.self.id) this.self = { id: frame.id, name: frame.name };
        this.peers.set(frame.id, frame.name);
        return true;
      case "roster":
        return this.roster(frame);
      case "error":
        this.listingError(frame.code);
        return false;
      case "message":
      case "history":
      case "whisper":
      case "typing":
      case "pong":
        return false;
      default:
        return unhandled(frame);
    }
  }

  private setPeers(peers: Peer[]): void {
    this.peers.clear();
    for (const peer of peers) this.peers.set(peer.id, peer.name);
    if (this.self && !this.peers.has(this.self.id)) this.peers.set(this.self.id, this.self.name);
  }

  private roster(frame: Extract<ServerFrame, { type: "roster" }>): boolean {
    if (this.self === null) return false;
    this.count = frame.count;
    const listing = this.listing;
    if (listing === null) {
      // A `who` the application sent: a whole room in one page replaces what
      // is known, a part of one adds to it.
      if (frame.next === undefined && frame.connections.length >= frame.count) {
        this.setPeers(frame.connections);
      } else {
        for (const peer of frame.connections) this.peers.set(peer.id, peer.name);
      }
      return true;
    }
    for (const peer of frame.connections) listing.seen.set(peer.id, peer.name);
    if (frame.next !== undefined) {
      this.sendNow({ type: "who", after: frame.next });
      return false;
    }
    this.listing = null;
    const self = listing.seen.get(this.self.id);
    if (self !== undefined) this.self = { id: this.self.id, name: self };
    this.setPeers([...listing.seen].map(([id, name]) => ({ id, name })));
    const presence = this.presence;
    if (presence) listing.resolve(presence);
    return true;
  }

  /** An error frame that answers a listing's `who` ends it; others are not the listing's. */
  private listingError(code: string): void {
    if (code === "unknown_cursor" || code === "rate_limited" || code === "internal") {
      this.endListing(new Error(`loadPresence: the server answered ${code}`));
    }
  }

  private endListing(error: Error): void {
    const listing = this.listing;
    this.listing = null;
    listing?.reject(error);
  }

  private received(data: unknown): void {
    if (typeof data !== "string") return; // the server sends text only
    if (data === "pong") this.awaitingPong = false;
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      this.emit("text", data);
      return;
    }
    if (typeof frame === "object" && frame !== null && "type" in frame) {
      const parsed = frame as ServerFrame;
      const changed = this.track(parsed);
      this.emit("frame", parsed);
      const presence = changed ? this.presence : null;
      if (presence) this.emit("presence", presence);
      if (parsed.type === "message") this.deliver(parsed);
      if (parsed.type === "history") this.replay(parsed);
    } else {
      this.emit("text", data);
    }
  }

  /** Delivers `message` unless it was already (a seq at or below the last delivered). */
  private deliver(message: Message): void {
    if (message.seq !== undefined) {
      if (message.seq <= this.lastSeq) return;
      this.lastSeq = message.seq;
    }
    this.emit("message", message);
  }

  /**
   * A connection's history: told, then its messages delivered once each.
   * Afterwards the client counts as having seen the room up to its welcome,
   * so a gap it was told of is not asked for again.
   */
  private replay(history: Extract<ServerFrame, { type: "history" }>): void {
    if (this.resuming) this.lastRecovered = history.recovered;
    const missed = history.messages.filter((m) => m.seq === undefined || m.seq > this.lastSeq);
    this.emit("history", {
      resumed: this.resuming,
      recovered: history.recovered,
      missed: missed.length,
    });
    for (const message of missed) this.deliver(message);
    this.lastSeq = Math.max(this.lastSeq, this.welcomeSeq);
  }

  private scheduleKeepalive(): void {
    this.keepaliveTimer = this.timers.setTimeout(() => {
      this.keepaliveTimer = null;
      const socket = this.socket;
      if (!socket || this.current.state !== "open") return;
      if (this.awaitingPong) {
        // No answer to the last ping: the connection is gone without a Close.
        this.socket = null;
        closeQuietly(socket);
        this.failed(1006, "keepalive: no pong");
        return;
      }
      this.awaitingPong = true;
      try {
        socket.send("ping");
      } catch {
        // the close event follows
      }
      this.scheduleKeepalive();
    }, this.keepaliveMs);
  }

  /**
   * The connection ended, or the attempt failed (`status`: the HTTP answer to
   * the upgrade, when known). A refused or expired token gets one immediate
   * retry with a fresh token from the provider; without a provider, and after
   * a code or status that says retrying would not help, the client closes;
   * anything else is retried with backoff.
   */
  private failed(code: number, reason: string, status?: number): void {
    this.stopTimers();
    if (this.current.state === "closed") return;
    const refused = status === undefined ? {} : { status };
    const tokenRejected = status === 401 || isTokenExpiredClose(code, reason);
    const final = tokenRejected
      ? typeof this.token !== "function"
      : status !== undefined
        ? isFinalStatus(status)
        : isFinalCloseCode(code);
    if (final) {
      this.queue.length = 0;
      this.setStatus({ state: "closed", code, reason, by: "server", ...refused });
      return;
    }
    if (tokenRejected) this.tokenRejected = true;
    const now = tokenRejected && !this.freshTokenTried;
    if (now) this.freshTokenTried = true;
    const delayMs = now ? 0 : backoffDelay(this.backoff, this.failures, this.random);
    this.failures++;
    this.setStatus({
      state: "reconnecting",
      delayMs,
      attempt: this.failures,
      code,
      reason,
      ...refused,
    });
    this.retryTimer = this.timers.setTimeout(() => this.attempt(), delayMs);
  }

  private stopTimers(): void {
    const timers = [this.retryTimer, this.keepaliveTimer, this.connectTimer, this.typingTimer];
    for (const timer of timers) {
      if (timer !== null) this.timers.clearTimeout(timer);
    }
    this.retryTimer = null;
    this.keepaliveTimer = null;
    this.connectTimer = null;
    this.typingTimer = null;
  }

  private setStatus(status: Status): void {
    this.current = status;
    if (status.state !== "open")
      this.endListing(new Error(`loadPresence: connection ${status.state}`));
    this.emit("status", status);
  }

  private emit<K extends keyof RoomClientEvents>(type: K, value: RoomClientEvents[K]): void {
    for (const listener of [...this.listeners[type]]) {
      try {
        listener(value);
      } catch (error) {
        console.error(`RoomClient ${type} listener:`, error);
      }
    }
  }
}

interface Listing {
  promise: Promise<Presence>;
  resolve(presence: Presence): void;
  reject(error: Error): void;
  /** Members of the pages so far: id → name. */
  seen: Map<string, string>;
}

function defaultConnect(ctor?: new (url: string) => SocketLike): Connect {
  return (url) => {
    const WebSocketClass =
      ctor ?? (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
    if (!WebSocketClass)
      throw new Error("no WebSocket in this runtime: pass `WebSocket` or `connect`");
    return new WebSocketClass(url);
  };
}

function closeQuietly(socket: SocketLike): void {
  try {
    socket.close(1000);
  } catch {
    // already closed, or a code the runtime does not allow here
  }
}

/** The HTTP status of an {@link UpgradeRefused} (or any error with a numeric `status`). */
function statusOf(error: unknown): number | undefined {
  if (error instanceof UpgradeRefused) return error.status;
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && Number.isInteger(status) ? status : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
