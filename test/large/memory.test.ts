// What frames cost the core's Wasm memory (`memory_bytes` in the stats) with
// MAX_MESSAGE_BYTES at its largest allowed value, 2 MiB (test/large/vars.ts).
// Each test file runs in its own isolate, so the memory measured is this
// file's. The figures behind the bound are in rust/src/config.rs
// (MAX_MESSAGE_BYTES_LIMIT).
import { describe, expect, it } from "vitest";
import { freshRoom, join, type Member, stats } from "../worker/room";
import { LARGE } from "./vars";

const MAX = Number(LARGE.MAX_MESSAGE_BYTES);

/** Frames of every costly shape: at the limit, over it, and pathological. */
const SHAPES: Array<[string, string]> = [
  // Reading these into serde_json::Value grew the memory to 51.6 MiB.
  ["2 MiB of [0,0,…]", `[${"0,".repeat(MAX / 2 - 1)}0]`.slice(0, MAX)],
  ["[0,0,…] in a field", `{"type":"ping","x":[${"0,".repeat(MAX / 2 - 12)}0]}`],
  ["nesting far past 128", `{"type":"ping","x":${"[".repeat(MAX - 30)}}`],
  ["objects in a field", `{"type":"ping","x":{${'"a":{},'.repeat(MAX / 8)}"b":1}}`],
  // The costliest frame within the limit: a message of 2-byte characters.
  ["say of 2-byte characters", `{"type":"say","text":"${"é".repeat(MAX / 2 - 20)}"}`],
  ["say of escaped quotes", `{"type":"say","text":"${'\\"'.repeat(MAX / 2 - 20)}"}`],
  // Within the limit by length (1 MiB characters), over it in bytes (3 MiB).
  ["3-byte characters", `{"type":"say","text":"${"€".repeat(MAX / 2)}"}`],
  // Over the limit by length alone: never copied.
  ["8 MiB of text", "x".repeat(8 * MAX)],
  ["16 Mi 2-byte characters", "é".repeat(8 * MAX)],
];

/** Sends `frame` as `member`, and returns the member to use next (a new one after a close). */
async function send(room: string, member: Member, frame: string): Promise<[Member, string]> {
  member.client.send(frame);
  const answer = await Promise.race([
    member.next(20_000).then((f) => (f.type === "error" ? f.code : f.type)),
    member.client.closed(20_000).then((c) => `closed ${c.code}`),
  ]);
  return [answer.startsWith("closed") ? await join(room, "Ada") : member, answer];
}

describe("memory under the largest frames", () => {
  it("B26 worst-shape frames under the largest MAX_MESSAGE_BYTES (2 MiB): answered as usual; memory_bytes grows by at most 6 × the limit, once", async () => {
    const room = freshRoom();
    let ada = await join(room, "Ada");
    const before = (await stats(room)).memory_bytes;
    const answers: string[] = [];
    const after: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [, frame] of SHAPES) {
        let answer: string;
        [ada, answer] = await send(room, ada, frame);
        if (round === 0) answers.push(answer);
      }
      after.push((await stats(room)).memory_bytes);
    }
    expect(answers).toEqual([
      "bad_json",
      "pong",
      "bad_json",
      "pong",
      "message",
      "message",
      "closed 1009",
      "closed 1009",
      "closed 1009",
    ]);
    // Memory grows for the first round's costliest frame, and never again:
    // the same frames reuse it.
    expect(after[0] - before).toBeLessThanOrEqual(6 * MAX);
    expect(after[2]).toBe(after[0]);
  });
});
