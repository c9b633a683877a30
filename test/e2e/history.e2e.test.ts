// Against `wrangler dev`: a room's history survives what a real network and a
// real restart do. A client whose connection vanishes (raw TCP destroyed, no
// Close frame) gets exactly the messages said meanwhile when it resumes; and
// after `wrangler dev` is stopped and started again on the same storage
// (`--persist-to`), a newcomer sees the history under the same epoch and the
// sequence goes on.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame } from "../../pkg/core.js";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect, rawHandshake } from "./net";

const PORT = 8833;
const INSPECTOR_PORT = 9333;

type Message = Extract<ServerFrame, { type: "message" }>;

const persist = mkdtempSync(join(tmpdir(), "wrangler-history-"));
let server: DevServer;
const start = () =>
  startDevServer({ port: PORT, inspectorPort: INSPECTOR_PORT, persistTo: persist });

beforeAll(async () => {
  server = await start();
});

afterAll(async () => {
  await server?.stop();
  rmSync(persist, { recursive: true, force: true });
});

/** A Node WebSocket in `room`, its welcome and history read. */
async function member(room: string, name: string, query = "") {
  const client = await connect(`${server.ws}/rooms/${room}/websocket?name=${name}${query}`);
  const next = async () => JSON.parse(await client.next(10_000)) as ServerFrame;
  const welcome = await next();
  const history = await next();
  if (welcome.type !== "welcome" || history.type !== "history") {
    throw new Error(`expected welcome and history: ${JSON.stringify([welcome, history])}`);
  }
  /** Says `text` and returns the message as it came back. */
  const say = async (text: string): Promise<Message> => {
    client.send(JSON.stringify({ type: "say", text }));
    for (;;) {
      const frame = await next();
      if (frame.type === "message" && frame.text === text) return frame;
    }
  };
  return { client, welcome, history, next, say };
}

describe("history against wrangler dev", () => {
  it("a client whose network dies (raw TCP destroyed) resumes with exactly the three messages said meanwhile", async () => {
    const room = `history-${crypto.randomUUID().slice(0, 8)}`;
    const ada = await member(room, "Ada");
    // Bob on a hand-made connection that can vanish without a Close frame.
    const bob = await rawHandshake(PORT, `/rooms/${room}/websocket?name=Bob`);
    expect(bob.status).toMatch(/^HTTP\/1\.1 101/);
    const bobNext = async () =>
      JSON.parse((await bob.next(10_000)).payload.toString("utf8")) as ServerFrame;
    const welcome = await bobNext();
    expect(await bobNext()).toMatchObject({ type: "history", recovered: false });
    if (welcome.type !== "welcome") throw new Error(`expected welcome: ${JSON.stringify(welcome)}`);
    expect(await ada.next()).toMatchObject({ type: "joined", name: "Bob" });

    const before = await ada.say("before the tunnel");
    expect(await bobNext()).toEqual(before);
    bob.socket.destroy();
    const missed = [];
    for (const text of ["in the tunnel 1", "in the tunnel 2", "in the tunnel 3"]) {
      missed.push(await ada.say(text));
    }

    const back = await member(room, "Bob", `&since=${before.seq}&epoch=${welcome.epoch}`);
    expect(back.welcome).toMatchObject({ epoch: welcome.epoch, seq: (before.seq ?? 0) + 3 });
    expect(back.history).toEqual({ type: "history", recovered: true, messages: missed });
    ada.client.close(1000);
    back.client.close(1000);
  });

  it("after wrangler dev is stopped and started again, a newcomer sees the history under the same epoch", async () => {
    const room = `restart-${crypto.randomUUID().slice(0, 8)}`;
    const ada = await member(room, "Ada");
    const said = [await ada.say("before the restart 1"), await ada.say("before the restart 2")];
    expect(uncaughtErrors(server.output())).toEqual([]);
    await server.stop();
    server = await start();

    const bob = await member(room, "Bob");
    expect(bob.welcome).toMatchObject({ epoch: ada.welcome.epoch, seq: 2 });
    expect(bob.history).toEqual({ type: "history", recovered: false, messages: said });
    const after = await bob.say("after the restart");
    expect(after.seq).toBe(3);
    // Ada, whose connection the restart closed, resumes with exactly that one.
    const back = await member(room, "Ada", `&since=2&epoch=${ada.welcome.epoch}`);
    expect(back.history).toEqual({ type: "history", recovered: true, messages: [after] });
    bob.client.close(1000);
    back.client.close(1000);
    expect(uncaughtErrors(server.output())).toEqual([]);
  }, 240_000);
});
