// The Worker of bench/profile.mjs: this project (A, js/index.ts) and the
// plain-TS seed (B, bench/ts-reference/) side by side in one workerd process,
// so that the two are profiled seconds apart under the same machine load, plus
// a scratch Durable Object for micro-benchmarks.
//
// - A request with the header `x-variant: b` goes to B's Worker, any other to
//   A's (the same one header read for both).
// - GET /op/{name}?n=…&size=… runs scratch op `name` `n` times in an object
//   holding `size` sockets (and room members); bench/profile.mjs divides the
//   isolate thread's CPU time (read from /proc, outside the object: workerd's
//   clocks do not advance while JavaScript runs) by `n`. GET /ops?size=…
//   lists the ops and the sockets held.
import { DurableObject } from "cloudflare:workers";
import { SqlHistory } from "../js/history";
import a, { WebSocketHibernationServer } from "../js/index";
import { type Effects, initSync, ObjectState } from "../pkg/core.js";
import wasmModule from "../pkg/core_bg.wasm";
import b, { TsReference } from "./ts-reference/index";

export { TsReference, WebSocketHibernationServer };

initSync({ module: wasmModule });

interface ProfileEnv {
  SCRATCH: DurableObjectNamespace<Scratch>;
}

type Fetch = (request: Request, env: unknown, ctx: ExecutionContext) => Promise<Response>;

/** As bench/profile.mjs gives A: no cap, no rate limit. */
const VARS = {
  MAX_CONNECTIONS_PER_ROOM: "32768",
  RATE_LIMIT_PER_SECOND: "1000000",
  RATE_LIMIT_BURST: "1000000",
};

export default {
  async fetch(request, env, ctx): Promise<Response> {
    // No URL parsing here: A and B each parse the request as they would alone.
    const path = request.url.slice(request.url.indexOf("/", "http://".length));
    if (path.startsWith("/ops") || path.startsWith("/op/")) {
      // One object per size, so sockets accepted for one size do not count in another.
      const size = new URL(request.url).searchParams.get("size") ?? "1";
      return env.SCRATCH.getByName(`size-${size}`).fetch(request);
    }
    const variant = request.headers.get("x-variant") === "b" ? b : a;
    return (variant.fetch as Fetch)(request, env, ctx);
  },
} satisfies ExportedHandler<ProfileEnv>;

type Op = (i: number) => unknown;

export class Scratch extends DurableObject<ProfileEnv> {
  /** The room's history as A keeps it (the ops' effects are not performed: nothing is written). */
  private history = new SqlHistory(this.ctx.storage.sql);
  private state = new ObjectState(undefined, Date.now(), 0, VARS, undefined, this.history);
  private tags: string[][] = [];
  /** The first member's attachment, as its join stored it. */
  private attachment: unknown;
  private sockets: WebSocket[] = [];
  private ops = new Map<string, Op>();
  private sink: unknown;

  /** Accepts a socket the way js/index.ts does, from an opening of `url`. */
  private accept(url: string): { tags: string[]; ws: WebSocket; effects: Effects } {
    const opening = this.state.open(
      url,
      Date.now(),
      crypto.getRandomValues(new Uint8Array(9)),
      this.history,
      new Headers(),
    );
    if (opening.kind !== "join" && opening.kind !== "echo")
      throw new Error(`open ${url}: ${JSON.stringify(opening)}`);
    const [, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, opening.tags);
    for (const effect of opening.effects) {
      if (effect.kind === "attach") server.serializeAttachment(effect.attachment);
    }
    return { tags: opening.tags, ws: server, effects: opening.effects };
  }

  /** Fills the object up to `size` accepted room sockets (members), then defines the ops. */
  private fill(size: number): void {
    while (this.sockets.length < size) {
      const { tags, ws, effects } = this.accept(
        `http://127.0.0.1/rooms/scratch/websocket?name=m${this.sockets.length}`,
      );
      if (this.sockets.length === 0) {
        const attach = effects.find((e) => e.kind === "attach");
        this.attachment = attach?.kind === "attach" ? attach.attachment : null;
      }
      this.tags.push(tags);
      this.sockets.push(ws);
    }
    if (this.ops.size === 0) this.defineOps();
  }

  private defineOps(): void {
    const state = this.state;
    const history = this.history;
    const tags = this.tags[0];
    const ws = this.sockets[0];
    const echo = this.accept("http://127.0.0.1/websocket").tags;
    const now = Date.now();
    const say = '{"type":"say","text":"c12-34"}';
    const echoFrame = "c12 f34";
    const sayEffects = state.message(tags, say, now, history);
    const sayJson = JSON.stringify(sayEffects);
    // A lone reply comes as its text; as one JSON string it would be the Effects array.
    const echoJson = JSON.stringify([
      { kind: "reply", text: state.message(echo, echoFrame, now, history) },
    ]);
    const attachment = this.attachment;
    const member = { id: "q3Yx9kWm0aZc", name: "c12" };
    const message = `{"type":"message","id":"${tags[0]}","name":"m0","text":"c12-34","ts":${now}}`;
    const encoder = new TextEncoder();
    const decoder = new TextDecoder();
    const memory = new Uint8Array(256);
    const bytes = encoder.encode(message);
    const ops: Record<string, Op> = {
      noop: (i) => i,
      // The boundary, as A calls it.
      "rust: state.message, /websocket (echo frame → its reply's text)": () =>
        state.message(echo, echoFrame, now, history),
      // A say within the rate: no attachment to store (rust/src/room/stored.rs).
      "rust: state.message, room (say → Effects [send])": () =>
        state.message(tags, say, now, history),
      "rust: state.configError (a call that returns undefined)": () => state.configError(),
      "rust: state.open + state.close (a join and its leave)": (i) => {
        const opening = state.open(
          `http://127.0.0.1/rooms/scratch/websocket?name=x${i % 1000}`,
          now,
          crypto.getRandomValues(new Uint8Array(9)),
          history,
          new Headers(),
        );
        if (opening.kind !== "join") return opening;
        const attach = opening.effects.find((e) => e.kind === "attach");
        return state.close(
          opening.tags,
          1000,
          attach?.kind === "attach" ? attach.attachment : null,
        );
      },
      // The alternative: one string, parsed by JS.
      "js: JSON.parse of the say's Effects as one JSON string": () => JSON.parse(sayJson),
      "js: JSON.parse of the echo frame's Effects as one JSON string": () => JSON.parse(echoJson),
      "js: TextEncoder.encodeInto, a 90-byte frame": () => encoder.encodeInto(message, memory),
      "js: TextDecoder.decode, a 90-byte frame": () => decoder.decode(bytes),
      // What B does per frame instead.
      "js: JSON.parse of the say frame": () => JSON.parse(say),
      "js: JSON.stringify of B's message object": () =>
        JSON.stringify({
          type: "message",
          id: member.id,
          name: member.name,
          text: "c12-34",
          ts: now,
        }),
      // The runtime calls of a frame.
      "runtime: ws.serializeAttachment (A's attachment, with bucket)": () =>
        ws.serializeAttachment(attachment),
      "runtime: ws.serializeAttachment (B's {id, name})": () => ws.serializeAttachment(member),
      "runtime: ws.deserializeAttachment": () => ws.deserializeAttachment(),
      "runtime: ctx.getWebSockets() (all)": () => this.ctx.getWebSockets(),
      'runtime: ctx.getWebSockets("room")': () => this.ctx.getWebSockets("room"),
      "runtime: ctx.getWebSockets(member id) (one socket)": () => this.ctx.getWebSockets(tags[0]),
      "runtime: ctx.getTags(ws)": () => this.ctx.getTags(ws),
      "runtime: Date.now()": () => Date.now(),
    };
    this.ops = new Map(Object.entries(ops));
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const size = Number(url.searchParams.get("size") ?? 1);
    this.fill(size);
    if (url.pathname === "/ops") {
      return Response.json({
        ops: [...this.ops.keys()],
        sockets: this.ctx.getWebSockets("room").length,
        members: this.tags.length,
      });
    }
    const name = decodeURIComponent(url.pathname.slice("/op/".length));
    const op = this.ops.get(name);
    if (!op) return new Response(`no op ${name}`, { status: 404 });
    const n = Number(url.searchParams.get("n") ?? 1000);
    for (let i = 0; i < n; i++) this.sink = op(i);
    return new Response(typeof this.sink);
  }
}
