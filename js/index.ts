// The Worker and its Durable Object: runtime I/O only. Every decision (which
// request goes where, what a frame gets, how a close is answered) is made by
// the Rust core in rust/src, compiled to pkg/ by `npm run build`.
import { DurableObject } from "cloudflare:workers";
import {
  type Effects,
  type HttpResponse,
  initSync,
  internalError,
  internalResponse,
  Room,
  reinitialize,
  routeRequest,
  seedClose,
  type Wakes,
} from "../pkg/core.js";
import wasmModule from "../pkg/core_bg.wasm";

// Workers may not compile Wasm from bytes at run time: wrangler hands us the
// module compiled at upload, and the glue instantiates it once per isolate.
initSync({ module: wasmModule });

/**
 * How many times a trap (a Rust panic) forced a fresh Wasm instance in this
 * isolate. Every Room lives in the instance's memory, so a room built in an
 * older generation is rebuilt from its sockets' attachments before use.
 */
let generation = 0;

/** After a failure: a trapped instance is replaced; any other error leaves it be. */
function recover(error: unknown): void {
  if (error instanceof WebAssembly.RuntimeError) {
    reinitialize();
    generation++;
  }
}

/** Storage key of the object's wake record (see `Wakes` in rust/src/room.rs). */
const WAKES_KEY = "wakes";

export default {
  async fetch(request, env): Promise<Response> {
    return answer("fetch", () => route(request, env));
  },
} satisfies ExportedHandler<Env>;

function route(request: Request, env: Env): Promise<Response> | Response {
  const route = routeRequest(
    request.method,
    request.url,
    request.headers.get("Upgrade") ?? undefined,
    request.headers.get("Origin") ?? undefined,
    env,
    Date.now(),
  );
  switch (route.kind) {
    case "forward":
      return env.WEBSOCKET_HIBERNATION_SERVER.getByName(route.object).fetch(request);
    case "respond":
      return toResponse(route);
  }
}

export class WebSocketHibernationServer extends DurableObject<Env> {
  /** The room, rebuilt from the sockets' attachments each time the object is created. */
  private current: Room;
  /** The Wasm generation `current` lives in. */
  private built = generation;
  private readonly startedAt = Date.now();
  private readonly wakes: Wakes;
  /** Each room socket's member id, as its attachment says; seed sockets are absent. */
  private readonly members = new Map<WebSocket, string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sockets = ctx.getWebSockets();
    this.current = new Room(ctx.storage.kv.get(WAKES_KEY), this.startedAt, sockets.length, env);
    const configError = this.current.configError();
    if (configError !== undefined) console.error(`WebSocketHibernationServer: ${configError}`);
    this.wakes = this.current.wakes();
    // Stored once the event that created this instance has been answered.
    setTimeout(() => this.storeWakes(), 0);
    this.adopt(sockets);
    // The runtime answers a bare "ping" text frame itself, without waking the
    // object, so keepalives never cost a wake.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  async fetch(request: Request): Promise<Response> {
    return answer("WebSocketHibernationServer.fetch", () => this.open(request));
  }

  private open(request: Request): Response {
    const entropy = crypto.getRandomValues(new Uint8Array(9));
    const opening = this.room.open(request.url, Date.now(), entropy);
    switch (opening.kind) {
      case "respond":
        return toResponse(opening);
      case "seed": {
        const [client, server] = Object.values(new WebSocketPair());
        // acceptWebSocket (not server.accept()) makes the socket hibernatable.
        this.ctx.acceptWebSocket(server);
        return new Response(null, { status: 101, webSocket: client });
      }
      case "join": {
        const [client, server] = Object.values(new WebSocketPair());
        try {
          this.ctx.acceptWebSocket(server, opening.tags);
        } catch (error) {
          this.room.leave(opening.id); // e.g. the platform's socket limit
          throw error;
        }
        this.members.set(server, opening.id);
        this.perform(server, opening.effects);
        return new Response(null, { status: 101, webSocket: client });
      }
    }
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const id = this.members.get(ws);
    guard(
      "webSocketMessage",
      () => {
        const effects =
          id === undefined
            ? this.room.seed(message, this.ctx.getWebSockets().length)
            : this.room.frame(id, message, Date.now());
        this.perform(ws, effects);
      },
      // The failing frame is answered; the socket and the room carry on.
      () => id !== undefined && send(ws, internalError()),
    );
  }

  webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): void {
    guard("webSocketClose", () => {
      const id = this.memberOf(ws);
      this.members.delete(ws);
      this.perform(ws, id === undefined ? seedClose(code) : this.room.close(id, code));
    });
  }

  webSocketError(ws: WebSocket, error: unknown): void {
    // The socket failed; nothing can be sent on it. Its member leaves now
    // (the room tells the others once, even if webSocketClose follows).
    console.warn("WebSocketHibernationServer.webSocketError:", error);
    guard("webSocketError", () => {
      const id = this.memberOf(ws);
      this.members.delete(ws);
      if (id !== undefined) this.perform(ws, this.room.leave(id));
    });
  }

  /**
   * Writes this instance's wake record. Not in the constructor: a write there
   * is committed before the first reply leaves (under `wrangler dev` the
   * SQLite commit runs first, and in production the output gate would hold
   * the reply until the write is confirmed), which made the first reply
   * after a wake ~3 ms slower (bench/wake.mjs). The constructor defers this
   * to a later task, and `allowUnconfirmed` keeps later frames from waiting
   * for the confirmation. The price: an instance that ends (a crash, a
   * deploy) before this runs, or whose write fails, is not counted in
   * `wakes`; the count is a statistic, not state the room depends on.
   */
  private storeWakes(): void {
    try {
      this.ctx.storage
        .put(WAKES_KEY, this.wakes, { allowUnconfirmed: true })
        .catch((error) => console.error("WebSocketHibernationServer.storeWakes:", error));
    } catch (error) {
      console.error("WebSocketHibernationServer.storeWakes:", error);
    }
  }

  /** The room, rebuilt first if a trap replaced the Wasm instance it lived in. */
  private get room(): Room {
    if (this.built !== generation) {
      // The old object's memory belongs to the dead instance: drop the JS
      // wrapper without calling free(), which would act on the new instance.
      (this.current as unknown as { __destroy_into_raw(): number }).__destroy_into_raw();
      this.current = Room.resume(this.wakes, this.startedAt, this.env);
      this.built = generation;
      this.members.clear();
      this.adopt(this.ctx.getWebSockets());
    }
    return this.current;
  }

  /** Makes the members of these sockets' attachments members of the room. */
  private adopt(sockets: WebSocket[]): void {
    for (const ws of sockets) {
      guard("adopt", () => {
        const id = this.current.restore(ws.deserializeAttachment());
        if (id !== undefined) this.members.set(ws, id);
      });
    }
  }

  /**
   * The member id of a closing socket. A socket that closed while the object
   * was evicted is no longer among getWebSockets() when the object is
   * re-created, so its attachment is read here to tell the others it left.
   */
  private memberOf(ws: WebSocket): string | undefined {
    return this.members.get(ws) ?? this.room.restore(ws.deserializeAttachment());
  }

  /** Carries out Rust's decision; `ws` is the socket that raised the event. */
  private perform(ws: WebSocket, effects: Effects): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "reply":
          send(ws, effect.text);
          break;
        case "send":
          for (const peer of this.ctx.getWebSockets(effect.tag)) {
            if (!(effect.skipSelf && peer === ws)) send(peer, effect.text);
          }
          break;
        case "attach":
          ws.serializeAttachment(effect.attachment);
          break;
        case "close":
          close(ws, effect.code, effect.reason);
          break;
      }
    }
  }
}

/** Sends, ignoring a socket that is already closing: its close event cleans up. */
function send(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closed or closing
  }
}

/** Closes, ignoring a socket that is already closed (e.g. closed by the server before its client's close arrived). */
function close(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

/** Builds Rust's answer; a server-side fault it reports goes to the log. */
function toResponse(response: HttpResponse): Response {
  if (response.log !== undefined) console.error(response.log);
  return new Response(response.body ?? null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** Answers a request; a failure is logged, a trapped instance replaced, and the answer is 500. */
async function answer(
  where: string,
  handle: () => Promise<Response> | Response,
): Promise<Response> {
  try {
    return await handle();
  } catch (error) {
    console.error(`${where}:`, error);
    recover(error);
    return toResponse(internalResponse());
  }
}

/**
 * Runs a runtime hook so that a failure is logged with context, a trapped
 * Wasm instance is replaced, and nothing escapes; `after` then answers.
 */
function guard(hook: string, action: () => void, after?: () => void): void {
  try {
    action();
  } catch (error) {
    console.error(`WebSocketHibernationServer.${hook}:`, error);
    try {
      recover(error);
      after?.();
    } catch (again) {
      console.error(`WebSocketHibernationServer.${hook} (recovering):`, again);
    }
  }
}
