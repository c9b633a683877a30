// The Worker and its Durable Object: runtime I/O only. Every decision (which
// request goes where, which code serves a socket, what a frame gets, how a
// close is answered) is made by the Rust core in rust/src, compiled to pkg/
// by `npm run build`; each hook reads what Rust needs, calls it once, and
// carries out what it returns.
import { DurableObject } from "cloudflare:workers";
import {
  type CallAttempts,
  type Effect,
  type FrameEffects,
  failedFrame,
  type HttpResponse,
  initSync,
  internalResponse,
  ObjectState,
  type Opening,
  type RoomTag,
  routeRequest,
  scheduleReset,
  settle,
  tooManyRequests,
  unreached,
  type Wakes,
} from "../pkg/core.js";
import wasmModule from "../pkg/core_bg.wasm";
import { SqlHistory } from "./history";
import { unhandled } from "./unhandled";

// Workers may not compile Wasm from bytes at run time: wrangler hands us the
// module compiled at upload, and the glue instantiates it once per isolate.
initSync({ module: wasmModule });

/**
 * How many times a trap made this isolate replace its Wasm instance. Every
 * object's state lives in the instance's memory, so an object built in an
 * older generation is rebuilt from its sockets before use.
 *
 * Why an old wrapper can never act on the new instance: `scheduleReset`
 * uses wasm-bindgen's reinit support, which tags every wrapper it creates
 * with the instance it was made in. A method call on a wrapper from an
 * older instance throws ("Invalid stale object from previous Wasm
 * instance") before it reaches Wasm, and the FinalizationRegistry callback
 * frees a pointer only when the wrapper's instance is the current one. So
 * an evicted object's old wrapper, collected at any later time, frees
 * nothing in the new heap; the objects here drop stale wrappers without
 * calling `free()`.
 */
let generation = 0;

/**
 * After a failure: a trap (`WebAssembly.RuntimeError`: a Rust panic aborts
 * the instance) or a stack overflow (`RangeError`, which leaves the
 * instance's shadow stack where the overflow left it) means the instance
 * must not run again. `scheduleReset` asks wasm-bindgen for a fresh
 * instance of the same compiled module, and `settle` (no arguments) makes
 * the swap happen now: the glue copies a call's arguments into memory
 * before it swaps, so the swap must never wait for a call that has any, and
 * no method may run on a current wrapper while a swap is pending. Any other
 * error leaves the instance be.
 */
function recover(error: unknown): void {
  if (error instanceof WebAssembly.RuntimeError || error instanceof RangeError) {
    scheduleReset();
    settle();
    generation++;
  }
}

/** Storage key of the object's wake record (see `Wakes` in rust/src/object.rs). */
const WAKES_KEY = "wakes";

/** How many times a call to another object of the room is tried (typed by the core's constant). */
const CALL_ATTEMPTS: CallAttempts = 3;

/** What `call` gives once every attempt of a call failed. */
const FAILED: unique symbol = Symbol("failed");

/** The tag of every room socket (typed by the core's constant). */
const ROOM: RoomTag = "room";

/** An effect of the given kind. */
type EffectOf<K extends Effect["kind"]> = Extract<Effect, { kind: K }>;

export default {
  async fetch(request, env): Promise<Response> {
    return answer("fetch", () => route(request, env));
  },
} satisfies ExportedHandler<Env>;

async function route(request: Request, env: Env): Promise<Response> {
  const route = routeRequest(
    request.method,
    request.url,
    request.headers.get("Upgrade") ?? undefined,
    request.headers.get("Origin") ?? undefined,
    request.headers.get("CF-Connecting-IP") ?? undefined,
    env,
    Date.now(),
  );
  switch (route.kind) {
    case "forward":
      // Rust names the key (the client's address) when this request counts
      // against the platform's Rate Limiting binding (wrangler.jsonc).
      if (route.limitKey !== undefined) {
        const { success } = await env.UPGRADE_LIMITER.limit({ key: route.limitKey });
        if (!success) return toResponse(tooManyRequests());
      }
      return env.WEBSOCKET_HIBERNATION_SERVER.getByName(route.object).fetch(request);
    case "respond":
      return toResponse(route);
    default:
      return unhandled(route);
  }
}

export class WebSocketHibernationServer extends DurableObject<Env> {
  /** The object's state in Rust, rebuilt from the sockets each time the object is created. */
  private current: ObjectState;
  /** The Wasm generation `current` lives in. */
  private built = generation;
  private readonly startedAt = Date.now();
  /** The wake record found in storage, and the sockets found open, when the instance was created. */
  private readonly previous: unknown;
  private readonly socketsAtStart: number;
  /** The wake record this instance stored, once it did (see `storeWakes`). */
  private stored: Wakes | undefined;
  /** The room's history in SQLite; Rust reads it only when an event needs it. */
  private readonly history = new SqlHistory(this.ctx.storage.sql);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sockets = ctx.getWebSockets();
    // Reading creates no storage: a room that never had a member has none.
    this.previous = ctx.storage.kv.get(WAKES_KEY);
    this.socketsAtStart = sockets.length;
    // The object's name tells Rust its place in a room that spans objects.
    this.current = new ObjectState(
      this.previous,
      this.startedAt,
      sockets.length,
      env,
      ctx.id.name,
      this.history,
    );
    const configError = this.current.configError();
    if (configError !== undefined) console.error(`WebSocketHibernationServer: ${configError}`);
    this.adopt(sockets);
    // The runtime answers a bare "ping" text frame itself, without waking the
    // object, so keepalives never cost a wake.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    // The idle sweep runs from the alarm; an instance that finds no alarm
    // pending (its last run failed, reaping was just turned on) tells Rust,
    // which runs the sweep now.
    this.checkAlarm();
  }

  async fetch(request: Request): Promise<Response> {
    return answer("WebSocketHibernationServer.fetch", () => this.open(request));
  }

  private async open(request: Request): Promise<Response> {
    const entropy = crypto.getRandomValues(new Uint8Array(9));
    const opening = this.state.open(
      request.url,
      Date.now(),
      entropy,
      this.history,
      request.headers,
    );
    switch (opening.kind) {
      case "respond":
        return toResponse(opening);
      case "forward":
        return this.forward(request, opening);
      case "survey": {
        // Each shard's members and wakes, in order (NaN for one that failed).
        const answers = await Promise.all(
          opening.objects.map((object) =>
            this.shard(object)
              .counts()
              .catch((error: unknown) => {
                console.error("WebSocketHibernationServer.survey:", error);
                return [Number.NaN, Number.NaN];
              }),
          ),
        );
        return toResponse(
          this.state.surveyed(request.url, Float64Array.from(answers.flat()), this.history),
        );
      }
      case "echo":
      case "join": {
        const [client, server] = Object.values(new WebSocketPair());
        try {
          // acceptWebSocket (not server.accept()) makes the socket hibernatable.
          this.ctx.acceptWebSocket(server, opening.tags);
        } catch (error) {
          // e.g. the platform's socket limit: the socket never was.
          this.state.error(opening.tags, undefined);
          throw error;
        }
        try {
          this.perform(server, opening.effects);
        } catch (error) {
          // (e.g. a history write) Its member never joined for anyone: the
          // socket loses any attachment, and the rebuilt state closes it as
          // one it cannot read. The request gets a 500.
          attach(server, null);
          this.rebuild();
          throw error;
        }
        return new Response(null, {
          status: 101,
          webSocket: client,
          headers: opening.headers,
        });
      }
      default:
        return unhandled(opening);
    }
  }

  /**
   * Shard 0 hands an upgrade to another shard of the room (rust/src/shard.rs):
   * brings it up to date first if Rust says so, tells Rust how it answered
   * (its count comes in a header, which the client never sees), and answers
   * the client with the socket the shard accepted.
   */
  private async forward(
    request: Request,
    forward: Extract<Opening, { kind: "forward" }>,
  ): Promise<Response> {
    let answer: Response | undefined;
    try {
      if (forward.sync?.kind === "deliver") await this.handOut(forward.sync);
      const handed = new Request(request);
      for (const [name, value] of forward.headers) handed.headers.set(name, value);
      answer = await this.shard(forward.object).fetch(handed);
    } finally {
      this.perform(null, this.state.forwarded(forward.shard, answer?.status ?? 0, answer?.headers));
    }
    if (answer.status !== 101) return answer;
    return new Response(null, { status: 101, webSocket: answer.webSocket });
  }

  /**
   * A call made for the member on `sender` (its `publish`, a whisper's
   * relay, a `who`), not awaited by the event: `then` gets the answer; if
   * every attempt failed the member is told `internal`, as for any frame
   * the server failed to handle.
   */
  private forMember<T>(
    what: string,
    sender: WebSocket,
    attempt: () => Promise<T>,
    then?: (answer: T) => void,
  ): void {
    void this.call(what, attempt)
      .then((answer) => {
        if (answer === FAILED) this.perform(sender, failedFrame(this.ctx.getTags(sender)));
        else then?.(answer);
      })
      .catch(logged(what));
  }

  /** The stub of another object of this room. */
  private shard(object: string): DurableObjectStub<WebSocketHibernationServer> {
    return this.env.WEBSOCKET_HIBERNATION_SERVER.getByName(object);
  }

  /**
   * Tries a call to another object of the room up to `CALL_ATTEMPTS` times
   * (the callee makes a retried call harmless: rust/src/shard.rs); `FAILED`
   * once every attempt failed.
   */
  private async call<T>(what: string, attempt: () => Promise<T>): Promise<T | typeof FAILED> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        console.warn(
          `WebSocketHibernationServer.${what} (attempt ${n} of ${CALL_ATTEMPTS}):`,
          error,
        );
        if (n >= CALL_ATTEMPTS) return FAILED;
      }
    }
  }

  /**
   * Shard 0 delivers stored messages to a shard; one that answers with the
   * seq it holds (a gap, or a copy of another history) is sent what Rust
   * decides next. The messages go from SQLite to the call, never through Wasm.
   */
  private async handOut(
    effect: EffectOf<"deliver">,
    messages = this.history.messages(effect.after, effect.count),
  ): Promise<void> {
    const [seqs, frames] = messages;
    const answer = await this.call("deliver", () =>
      this.shard(effect.object).deliver(effect.epoch, effect.after, seqs, frames),
    );
    const effects = this.state.delivered(
      effect.object,
      answer === FAILED ? undefined : Float64Array.from(answer),
      this.history,
    );
    for (const next of effects) {
      if (next.kind === "deliver") await this.handOut(next);
      else this.perform(null, [next]);
    }
  }

  // Calls from the room's other objects (Durable Object RPC). Each is
  // decided by Rust; one that fails throws, so that the caller tries again.

  /** Shard 0: a message from a member of another shard, to number, store and deliver. */
  publish(key: string, id: string, name: string, text: string, ts: number): void {
    rpc("publish", () =>
      this.perform(null, this.state.published(key, id, name, text, ts, Date.now(), this.history)),
    );
  }

  /**
   * A shard ≥ 1: messages from shard 0 (`frames[i]` is message `seqs[i]`).
   * Rust says which to store and send; the answer, for shard 0, is the seq
   * this shard holds if it took none (else -1) and its member count with the
   * count's version (`take` in rust/src/wasm.rs).
   */
  deliver(epoch: string, after: number, seqs: number[], frames: string[]): number[] {
    return rpc("deliver", () => {
      const [need, members, version, restart, ...keep] = this.state.take(
        epoch,
        after,
        Float64Array.from(seqs),
        this.history,
      );
      if (restart === 1) this.history.restart(epoch);
      const room = keep.length > 0 ? this.ctx.getWebSockets(ROOM) : [];
      for (let i = 0; i + 2 < keep.length; i += 3) {
        const [index, seq, forget] = [keep[i], keep[i + 1], keep[i + 2]];
        const text = frames[index];
        // Stored first, as every message (see the "send" effect).
        this.history.append(seq, text, forget < 0 ? undefined : forget, undefined);
        for (const peer of room) send(peer, text);
      }
      return [need, members, version];
    });
  }

  /** Shard 0: another shard's member count. */
  report(shard: number, members: number, version: number): void {
    rpc("report", () => this.perform(null, this.state.reported(shard, members, version)));
  }

  /** A whisper from another shard to member `to` (its socket is tagged with its id): whether this object holds it. */
  whisper(to: string, text: string): boolean {
    return rpc("whisper", () => {
      if (!this.state.whispered(to)) return false;
      for (const peer of this.ctx.getWebSockets(to)) send(peer, text);
      return true;
    });
  }

  /** Shard 0: the roster frame after `after` for a room that spans objects. */
  async roster(after: string | null): Promise<string> {
    const plan = rpc("roster", () => this.state.planRoster(after ?? undefined));
    switch (plan.kind) {
      case "done":
        return plan.text;
      case "page":
        return this.shard(plan.object).page(plan.after ?? null, plan.count, plan.then ?? null);
      default:
        return unhandled(plan);
    }
  }

  /** This object's roster frame after `after`, for shard 0 (see `page` in rust/src/wasm.rs). */
  page(after: string | null, count: number, then: string | null): string {
    return rpc("page", () => this.state.page(after ?? undefined, count, then ?? undefined));
  }

  /** A shard ≥ 1: its members and wakes, for shard 0's stats. */
  counts(): number[] {
    return rpc("counts", () => Array.from(this.state.counts()));
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    guard(
      "webSocketMessage",
      () => {
        const tags = this.ctx.getTags(ws);
        this.perform(ws, this.state.message(tags, message, Date.now(), this.history));
      },
      // The failing frame is answered; the socket and the room carry on.
      () => this.perform(ws, failedFrame(this.ctx.getTags(ws))),
    );
  }

  webSocketClose(ws: WebSocket, code: number, _reason: string, _wasClean: boolean): void {
    guard("webSocketClose", () => {
      this.perform(ws, this.state.close(this.tagsOf(ws), code, ws.deserializeAttachment()));
    });
  }

  webSocketError(ws: WebSocket, error: unknown): void {
    console.warn("WebSocketHibernationServer.webSocketError:", error);
    guard("webSocketError", () => {
      this.perform(ws, this.state.error(this.tagsOf(ws), ws.deserializeAttachment()));
    });
  }

  /**
   * The idle sweep: closes the members that died without a Close and sets
   * the next run (rust/src/liveness.rs). An alarm survives hibernation and
   * wakes the object; a timer would do neither. Failing, it is tried once
   * more (in a fresh Wasm instance after a trap) rather than thrown: the
   * runtime's retries would come seconds later, and the next instance to
   * find no alarm pending runs it anyway.
   */
  alarm(): void {
    guard(
      "alarm",
      () => this.sweep(undefined),
      () => this.sweep(undefined),
    );
  }

  /** Reads the pending alarm and hands it to the sweep, which leaves a pending one to run. */
  private checkAlarm(): void {
    const failed = (error: unknown) =>
      console.error("WebSocketHibernationServer.checkAlarm:", error);
    try {
      this.ctx.storage
        .getAlarm()
        .then((pending) => guard("checkAlarm", () => this.sweep(pending ?? undefined)), failed);
    } catch (error) {
      failed(error);
    }
  }

  /**
   * What the sweep needs of every open socket: its tags (all in a row, each
   * socket's ended by an empty string) and when the runtime last answered
   * its text `ping` (NaN if never); `pending` is the alarm the runtime holds.
   */
  private sweep(pending: number | undefined): void {
    const sockets = this.ctx.getWebSockets();
    const tags = sockets.flatMap((ws) => [...this.ctx.getTags(ws), ""]);
    const pinged = Float64Array.from(
      sockets,
      (ws) => this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? Number.NaN,
    );
    this.perform(null, this.state.sweep(tags, pinged, Date.now(), pending));
  }

  /**
   * Writes this instance's wake record, which Rust asks for once the
   * instance holds its first socket (so a request that opens none, such as
   * stats, writes nothing). `allowUnconfirmed`: the output gate does not
   * hold this event's replies, nor later frames, until the write is
   * confirmed (a confirmed write made the first reply after a wake ~3 ms
   * slower, bench/RESULTS.md Findings 6; written in the event this way it
   * costs the wake nothing measurable, Findings 13, so no timer defers it).
   * The price: an instance whose write fails, or that ends (a crash, a
   * deploy) before the write is durable, is not counted in `wakes`; the
   * count is a statistic, not state the room depends on.
   */
  private storeWakes(wakes: Wakes): void {
    this.stored = wakes;
    try {
      this.ctx.storage
        .put(WAKES_KEY, wakes, { allowUnconfirmed: true })
        .catch((error) => console.error("WebSocketHibernationServer.storeWakes:", error));
    } catch (error) {
      console.error("WebSocketHibernationServer.storeWakes:", error);
    }
  }

  /**
   * A socket's tags, or `undefined` once the runtime has released it: after
   * the server closed its side, a close (or error) reported later, by an
   * instance created meanwhile, comes with a socket whose tags `getTags`
   * refuses to read ("you must call 'acceptWebSocket()'…").
   */
  private tagsOf(ws: WebSocket): string[] | undefined {
    try {
      return this.ctx.getTags(ws);
    } catch {
      return undefined;
    }
  }

  /**
   * The object's state, rebuilt first if a trap replaced the Wasm instance it
   * lived in, or if carrying out its effects failed (see `perform`).
   */
  private get state(): ObjectState {
    if (this.built !== generation) this.rebuild();
    return this.current;
  }

  /** Builds the state afresh from the sockets; the room's history is read again when needed. */
  private rebuild(): void {
    // The stale wrapper is dropped, never freed: see `generation`.
    this.current = ObjectState.resume(
      this.previous,
      this.startedAt,
      this.socketsAtStart,
      this.env,
      this.stored,
      this.ctx.id.name,
      this.history,
    );
    this.built = generation;
    this.adopt(this.ctx.getWebSockets());
  }

  /** Hands every open socket back to the state: room members rejoin from their attachments. */
  private adopt(sockets: WebSocket[]): void {
    for (const ws of sockets) {
      guard("adopt", () => {
        this.perform(ws, this.current.adopt(this.ctx.getTags(ws), ws.deserializeAttachment()));
      });
    }
  }

  /**
   * Carries out Rust's decision; `ws` is the socket that raised the event,
   * `null` for the alarm (whose effects address sockets by tag). If an
   * effect throws (a storage write), the rest are not carried out and the
   * state is rebuilt before its next use: what Rust remembers of the stored
   * history may be ahead of what was stored. A frame's lone reply comes as
   * its text (`FrameEffects`).
   */
  private perform(ws: WebSocket | null, effects: FrameEffects): void {
    if (typeof effects === "string") {
      send(raiser(ws, { kind: "reply" }), effects);
      return;
    }
    // A message's deliveries to every other shard carry the same messages:
    // read once from SQLite for all of them.
    let read: { after: number; count: number; messages: [number[], string[]] } | undefined;
    try {
      for (const effect of effects) {
        switch (effect.kind) {
          case "reply":
            send(raiser(ws, effect), effect.text);
            break;
          case "send":
            // A message is stored in the event that sends it, before it is
            // sent. The output gate holds every frame the object sends until
            // its writes are durable, and discards them if a write fails (the
            // object then restarts): no one gets a message that is not
            // stored, and the write needs no await.
            if (effect.seq !== undefined)
              this.history.append(effect.seq, effect.text, effect.forget, effect.key);
            for (const peer of this.ctx.getWebSockets(effect.tag)) {
              if (!(effect.skipSelf && peer === ws)) send(peer, effect.text);
            }
            break;
          case "attach":
            attach(raiser(ws, effect), effect.attachment);
            break;
          case "detach":
            attach(raiser(ws, effect), null);
            break;
          case "close":
            close(raiser(ws, effect), effect.code, effect.reason);
            break;
          case "expel":
            for (const peer of this.ctx.getWebSockets(effect.tag)) {
              attach(peer, null);
              close(peer, effect.code, effect.reason);
            }
            break;
          case "set_alarm":
            // Like the wake record: no reply waits for the write. Should it
            // fail, the next instance finds no alarm pending and sweeps.
            this.ctx.storage
              .setAlarm(effect.at, { allowUnconfirmed: true })
              .catch((error) => console.error("WebSocketHibernationServer.setAlarm:", error));
            break;
          case "store_wakes":
            this.storeWakes(effect.wakes);
            break;
          case "replay": {
            // The stored messages go from SQLite into the frame here, never
            // through the Wasm memory.
            const messages = this.history.after(effect.after, effect.count);
            send(raiser(ws, effect), effect.head + messages + effect.tail);
            break;
          }
          case "epoch":
            this.history.epoch(effect.epoch);
            break;
          // Calls to the room's other objects: not awaited by the event, and
          // sent only once its writes are durable (the output gate holds them).
          case "deliver":
            if (read?.after !== effect.after || read.count !== effect.count) {
              const messages = this.history.messages(effect.after, effect.count);
              read = { after: effect.after, count: effect.count, messages };
            }
            void this.handOut(effect, read.messages).catch(logged("deliver"));
            break;
          case "publish":
            this.forMember("publish", raiser(ws, effect), () =>
              this.shard(effect.object).publish(
                effect.key,
                effect.id,
                effect.name,
                effect.text,
                effect.ts,
              ),
            );
            break;
          case "relay": {
            const sender = raiser(ws, effect);
            this.forMember(
              "relay",
              sender,
              () => this.shard(effect.object).whisper(effect.to, effect.text),
              (reached) => {
                if (!reached) this.perform(sender, unreached(effect.to));
              },
            );
            break;
          }
          case "ask": {
            const sender = raiser(ws, effect);
            const after = effect.after ?? null;
            const own = effect.object === this.ctx.id.name;
            this.forMember(
              "ask",
              sender,
              () => (own ? this.roster(after) : this.shard(effect.object).roster(after)),
              (text) => send(sender, text),
            );
            break;
          }
          case "report":
            void this.call("report", () =>
              this.shard(effect.object).report(effect.shard, effect.members, effect.version),
            ).catch(logged("report"));
            break;
          case "register":
            this.history.register(effect.shard, effect.members, effect.version);
            break;
          default:
            unhandled(effect);
        }
      }
    } catch (error) {
      this.built = -1;
      throw error;
    }
  }
}

/** Logs a call between objects that failed outside any attempt (a bug, not the network). */
function logged(what: string): (error: unknown) => void {
  return (error) => console.error(`WebSocketHibernationServer.${what}:`, error);
}

/**
 * Runs a call from another object of the room: a failure is logged, a trapped
 * Wasm instance replaced, and the error thrown on to the caller, which tries
 * again (rust/src/shard.rs makes a retry harmless).
 */
function rpc<T>(what: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    console.error(`WebSocketHibernationServer.${what}:`, error);
    recover(error);
    throw error;
  }
}

/** The socket an effect addressed to "this socket" acts on; the alarm's effects never are. */
function raiser(ws: WebSocket | null, effect: Pick<Effect, "kind">): WebSocket {
  if (ws === null) throw new Error(`effect ${effect.kind} needs the socket that raised the event`);
  return ws;
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

/** Stores a socket's attachment; a socket the runtime no longer holds keeps none. */
function attach(ws: WebSocket, attachment: unknown): void {
  try {
    ws.serializeAttachment(attachment);
  } catch (error) {
    console.warn("WebSocketHibernationServer.attach:", error);
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
