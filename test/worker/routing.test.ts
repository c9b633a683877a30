import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("routing", () => {
  it("answers 426 with the seed's body when /websocket lacks Upgrade", async () => {
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
