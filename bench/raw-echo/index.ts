// Variant C of `npm run bench`: the ceiling. `ws.send(message)` only on
// `/websocket`; on `/rooms/{room}/websocket` the frame goes unchanged to every
// socket of the room (the minimal broadcast). `GET /rooms/{room}` reports when
// the instance started, so the bench can confirm a wake.
import { DurableObject } from "cloudflare:workers";

interface BenchEnv {
  SERVER: DurableObjectNamespace<RawEcho>;
}

const ROOM = /^\/rooms\/([A-Za-z0-9._-]{1,64})(\/websocket)?$/;

export default {
  async fetch(request, env): Promise<Response> {
    const room = ROOM.exec(new URL(request.url).pathname);
    return env.SERVER.getByName(room ? room[1] : "foo").fetch(request);
  },
} satisfies ExportedHandler<BenchEnv>;

export class RawEcho extends DurableObject<BenchEnv> {
  private readonly startedAt = Date.now();
  /** A room object (the bench never names a room "foo"); recomputed after a wake. */
  private isRoom = this.ctx.getWebSockets("room").length > 0;

  async fetch(request: Request): Promise<Response> {
    const room = ROOM.exec(new URL(request.url).pathname);
    if (room && !room[2]) return Response.json({ instance_started_at: this.startedAt });
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, room ? ["room"] : []);
    this.isRoom ||= room !== null;
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (!this.isRoom) {
      ws.send(message);
      return;
    }
    for (const peer of this.ctx.getWebSockets("room")) {
      try {
        peer.send(message);
      } catch {
        // closing
      }
    }
  }
}
