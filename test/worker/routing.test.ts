import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Stats } from "../../pkg/core.js";

describe("routing", () => {
  it("answers 426 with the example's body when /websocket lacks Upgrade", async () => {
    const response = await exports.default.fetch("http://example.com/websocket");
    expect(response.status).toBe(426);
    expect(await response.text()).toBe("Durable Object expected Upgrade: websocket");
    expect(response.headers.get("Upgrade")).toBe("websocket");
  });

  it("answers 426 when Upgrade names another protocol", async () => {
    const response = await exports.default.fetch("http://example.com/websocket", {
      headers: { Upgrade: "h2c" },
    });
    expect(response.status).toBe(426);
  });

  it("answers 400 Bad Request, text/plain, for any other URL", async () => {
    for (const path of ["/", "/foo", "/websocket/", "/websockets", "/?to=/websocket"]) {
      const response = await exports.default.fetch(`http://example.com${path}`, {
        headers: { Upgrade: "websocket" },
      });
      expect(response.status, path).toBe(400);
      expect(response.statusText, path).toBe("Bad Request");
      expect(response.headers.get("Content-Type"), path).toBe("text/plain");
      expect(await response.text(), path).toBe("");
    }
  });

  it("upgrades /websocket with 101 and a WebSocket", async () => {
    const response = await exports.default.fetch("http://example.com/websocket", {
      headers: { Upgrade: "websocket" },
    });
    expect(response.status).toBe(101);
    expect(response.webSocket).toBeTruthy();
    response.webSocket?.accept();
    response.webSocket?.close(1000, "done");
  });

  it("accepts any path ending in /websocket and the Upgrade token in any case", async () => {
    const response = await exports.default.fetch("http://example.com/a/b/websocket?x=1", {
      headers: { Upgrade: "WebSocket" },
    });
    expect(response.status).toBe(101);
    response.webSocket?.accept();
    response.webSocket?.close(1000, "done");
  });
});

describe("room routing", () => {
  async function errorOf(response: Response) {
    expect(response.headers.get("Content-Type")).toBe("application/json;charset=UTF-8");
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.message.length).toBeGreaterThan(0);
    return body.error.code;
  }

  it("refuses hostile or malformed room names with 400 bad_room", async () => {
    for (const room of [
      "a%2Fb",
      "...",
      "%2E%2E%2E",
      "a".repeat(65),
      "l%D0%BEbby",
      "",
      "a b",
      "x/y",
    ]) {
      const response = await exports.default.fetch(`http://example.com/rooms/${room}/websocket`, {
        headers: { Upgrade: "websocket" },
      });
      expect(response.status, room).toBe(400);
      expect(await errorOf(response), room).toBe("bad_room");
    }
  });

  it("resolves dot segments before routing: /rooms/%2E%2E/websocket is /websocket", async () => {
    const response = await exports.default.fetch("http://example.com/rooms/%2E%2E/websocket");
    expect(response.status).toBe(426);
    expect(await response.text()).toBe("Durable Object expected Upgrade: websocket");
  });

  it("answers a room endpoint without Upgrade with 426 upgrade_required", async () => {
    const response = await exports.default.fetch("http://example.com/rooms/lobby/websocket");
    expect(response.status).toBe(426);
    expect(await errorOf(response)).toBe("upgrade_required");
  });

  it("answers other methods with 405 and Allow: GET", async () => {
    const response = await exports.default.fetch("http://example.com/rooms/lobby", {
      method: "POST",
    });
    expect(response.status).toBe(405);
    expect(response.headers.get("Allow")).toBe("GET");
    expect(await errorOf(response)).toBe("method_not_allowed");
  });

  it("refuses an invalid ?name= with 400 invalid_field before upgrading", async () => {
    const response = await exports.default.fetch(
      `http://example.com/rooms/names-${crypto.randomUUID()}/websocket?name=${"x".repeat(33)}`,
      { headers: { Upgrade: "websocket" } },
    );
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toBe("invalid_field");
  });

  it("serves room stats as JSON", async () => {
    const room = `stats-${crypto.randomUUID()}`;
    const response = await exports.default.fetch(`http://example.com/rooms/${room}`);
    expect(response.status).toBe(200);
    const stats = (await response.json()) as Stats;
    // A room that never had a member: no instance was ever counted.
    expect(stats).toMatchObject({ room, connections: 0, wakes: 0, last_wake_at: null });
    expect(stats.memory_bytes).toBeGreaterThan(0);
    expect(stats.memory_bytes % 65_536).toBe(0);
  });
});
