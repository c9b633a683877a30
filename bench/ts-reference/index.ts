// Variant B of `npm run bench`: Cloudflare's "WebSocket server with WebSocket
// Hibernation" seed in plain TypeScript, with the same observable behaviour as
// the project's `/websocket` (reply text, count, close code and reason), and a
// minimal room so the broadcast workloads compare like with like:
// `/rooms/{room}/websocket` accepts with the tag "room" and an attachment
// {id, name}; a `{"type":"say","text"}` frame is parsed, checked, and sent as
// `{"type":"message","id","name","text","ts"}` to every socket of the room.
// No welcome, joined or left frames: those are A's extra work, not measured.
import { DurableObject } from "cloudflare:workers";

interface BenchEnv {
  SERVER: DurableObjectNamespace<TsReference>;
}

interface Member {
  id: string;
  name: string;
}

const ROOM = /^\/rooms\/([A-Za-z0-9._-]{1,64})(\/websocket)?$/;

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    const room = ROOM.exec(url.pathname);
    if (room) return env.SERVER.getByName(room[1]).fetch(request);
    if (url.pathname.endsWith("/websocket")) {
      if (request.headers.get("Upgrade") !== "websocket") {
        return new Response("Durable Object expected Upgrade: websocket", {
          status: 426,
          headers: { Upgrade: "websocket" },
        });
      }
      return env.SERVER.getByName("foo").fetch(request);
    }
    return new Response(null, { status: 400, statusText: "Bad Request" });
  },
} satisfies ExportedHandler<BenchEnv>;

export class TsReference extends DurableObject<BenchEnv> {
  private readonly startedAt = Date.now();

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const room = ROOM.exec(url.pathname);
    if (room && !room[2]) {
      // Stats, as A's GET /rooms/{room}: lets the bench confirm a wake.
      return Response.json({ instance_started_at: this.startedAt });
    }
    const [client, server] = Object.values(new WebSocketPair());
    if (room) {
      const id = crypto.randomUUID().slice(0, 12);
      const name = url.searchParams.get("name") ?? `guest-${id.slice(0, 4)}`;
      this.ctx.acceptWebSocket(server, ["room"]);
      server.serializeAttachment({ id, name } satisfies Member);
    } else {
      this.ctx.acceptWebSocket(server);
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const member = ws.deserializeAttachment() as Member | null;
    if (member === null) {
      ws.send(
        `[Durable Object] message: ${message}, connections: ${this.ctx.getWebSockets().length}`,
      );
      return;
    }
    if (typeof message !== "string") return;
    let frame: { type?: unknown; text?: unknown };
    try {
      frame = JSON.parse(message);
    } catch {
      ws.send('{"type":"error","code":"bad_json","message":"not JSON"}');
      return;
    }
    if (frame.type !== "say" || typeof frame.text !== "string") return;
    const out = JSON.stringify({
      type: "message",
      id: member.id,
      name: member.name,
      text: frame.text,
      ts: Date.now(),
    });
    for (const peer of this.ctx.getWebSockets("room")) {
      try {
        peer.send(out);
      } catch {
        // closing
      }
    }
  }

  webSocketClose(ws: WebSocket, code: number): void {
    if (code === 1005 || code === 1006 || code === 1015) code = 1000;
    try {
      ws.close(code, "Durable Object is closing WebSocket");
    } catch {
      // already closed
    }
  }
}
