// The Worker and its Durable Object: runtime I/O only. Every decision (which
// request goes where, what a frame gets, how a close is answered) is made by
// the Rust core in rust/src, compiled to pkg/ by `npm run build`.
import { DurableObject } from "cloudflare:workers";
import {
  type Effects,
  type HttpResponse,
  initSync,
  Room,
  routeRequest,
  seedClose,
  seedMessage,
} from "../pkg/core.js";
import wasmModule from "../pkg/core_bg.wasm";

// Workers may not compile Wasm from bytes at run time: wrangler hands us the
// module compiled at upload, and the glue instantiates it once per isolate.
initSync({ module: wasmModule });

/** Storage key of the object's wake record (see `Wakes` in rust/src/room.rs). */
const WAKES_KEY = "wakes";

export default {
  async fetch(request, env): Promise<Response> {
    const route = routeRequest(
      request.method,
      request.url,
      request.headers.get("Upgrade") ?? undefined,
    );
    switch (route.kind) {
      case "forward":
        return env.WEBSOCKET_HIBERNATION_SERVER.getByName(route.object).fetch(request);
      case "respond":
        return toResponse(route);
    }
  },
} satisfies ExportedHandler<Env>;

export class WebSocketHibernationServer extends DurableObject<Env> {
  /** The room, rebuilt from the sockets' attachments each time the object is created. */
  private readonly room: Room;
  /** Each room socket's member id, as its attachment says; seed sockets are absent. */
  private readonly members = new Map<WebSocket, string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sockets = ctx.getWebSockets();
    this.room = new Room(ctx.storage.kv.get(WAKES_KEY), Date.now(), sockets.length);
    ctx.storage.kv.put(WAKES_KEY, this.room.wakes());
    for (const ws of sockets) {
      guard("constructor", () => {
        const id = this.room.restore(ws.deserializeAttachment());
        if (id !== undefined) this.members.set(ws, id);
      });
    }
    // The runtime answers a bare "ping" text frame itself, without waking the
    // object, so keepalives never cost a wake.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  async fetch(request: Request): Promise<Response> {
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
    guard("webSocketMessage", () => {
      const id = this.members.get(ws);
      const effects =
        id === undefined
          ? seedMessage(message, this.ctx.getWebSockets().length)
          : this.room.frame(id, message, Date.now());
      this.perform(ws, effects);
    });
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
          ws.close(effect.code, effect.reason);
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

function toResponse(response: HttpResponse): Response {
  return new Response(response.body ?? null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** Runs a runtime hook so that a failure is logged with context and never escapes. */
function guard(hook: string, action: () => void): void {
  try {
    action();
  } catch (error) {
    console.error(`WebSocketHibernationServer.${hook}:`, error);
  }
}
