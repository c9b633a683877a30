// The Worker and its Durable Object: runtime I/O only. Every decision (which
// request goes where, what a frame gets, how a close is answered) is made by
// the Rust core in rust/src, compiled to pkg/ by `npm run build`.
import { DurableObject } from "cloudflare:workers";
import { type Effects, initSync, routeRequest, seedClose, seedMessage } from "../pkg/core.js";
import wasmModule from "../pkg/core_bg.wasm";

// Workers may not compile Wasm from bytes at run time: wrangler hands us the
// module compiled at upload, and the glue instantiates it once per isolate.
initSync({ module: wasmModule });

export default {
  async fetch(request, env): Promise<Response> {
    const route = routeRequest(request.url, request.headers.get("Upgrade") ?? undefined);
    switch (route.kind) {
      case "forward":
        return env.WEBSOCKET_HIBERNATION_SERVER.getByName(route.object).fetch(request);
      case "respond":
        return new Response(route.body ?? null, {
          status: route.status,
          statusText: route.statusText,
          headers: route.headers,
        });
    }
  },
} satisfies ExportedHandler<Env>;

export class WebSocketHibernationServer extends DurableObject<Env> {
  async fetch(_request: Request): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    // acceptWebSocket (not server.accept()) makes the socket hibernatable: the
    // object may be evicted while it stays open.
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    guard("webSocketMessage", () => {
      perform(ws, seedMessage(message, this.ctx.getWebSockets().length));
    });
  }

  webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): void {
    guard("webSocketClose", () => perform(ws, seedClose(code)));
  }

  webSocketError(_ws: WebSocket, error: unknown): void {
    // The runtime reports the socket's failure here; webSocketClose follows for
    // the bookkeeping. Nothing can be sent on a failed socket.
    console.warn("WebSocketHibernationServer.webSocketError:", error);
  }
}

/** Carries out Rust's decision on the socket that raised the event. */
function perform(ws: WebSocket, effects: Effects): void {
  for (const effect of effects) {
    switch (effect.kind) {
      case "reply":
        ws.send(effect.text);
        break;
      case "close":
        ws.close(effect.code, effect.reason);
        break;
    }
  }
}

/** Runs a runtime hook so that a failure is logged with context and never escapes. */
function guard(hook: string, action: () => void): void {
  try {
    action();
  } catch (error) {
    console.error(`WebSocketHibernationServer.${hook}:`, error);
  }
}
