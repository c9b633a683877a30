// Clients for end-to-end tests in Node: a real WebSocket, and a raw TCP
// connection that can vanish without a Close frame, as a dropped phone does.
import { type Socket, connect as tcpConnect } from "node:net";
import { type Client, track } from "../shared/client";

/** Opens a WebSocket (Node's own) and starts queueing its frames. */
export async function connect(url: string): Promise<Client<WebSocket>> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`could not open ${url}`)), { once: true });
  });
  return track(ws);
}

/**
 * Upgrades a plain TCP connection to WebSocket by hand and returns it once
 * the server said 101. `socket.destroy()` then ends it with no Close frame.
 */
export function rawConnect(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1", () => {
      socket.write(
        [
          `GET ${path} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          `Sec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}`,
          "Sec-WebSocket-Version: 13",
          "",
          "",
        ].join("\r\n"),
      );
    });
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        socket.off("data", onData);
        socket.on("data", () => {}); // keep reading frames so the server is never blocked
        if (head.startsWith("HTTP/1.1 101")) resolve(socket);
        else reject(new Error(`no upgrade: ${head.split("\r\n")[0]}`));
      }
    };
    socket.on("data", onData);
    socket.on("error", reject);
  });
}
