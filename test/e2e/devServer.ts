// Runs `wrangler dev` on 127.0.0.1 for end-to-end tests: start, wait until it
// answers, collect its output, stop it (and its workerd) again.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerdDescriptors } from "../../bench/descriptors.mjs";

const root = new URL("../..", import.meta.url).pathname;

export interface DevServer {
  /** http://127.0.0.1:PORT */
  http: string;
  /** ws://127.0.0.1:PORT */
  ws: string;
  /** Everything wrangler printed so far. */
  output(): string;
  /**
   * Open descriptors of the workerd processes wrangler started (the dev
   * proxy and the runtime), from /proc; undefined where there is no /proc.
   */
  descriptors(): number | undefined;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  port: number;
  /** wrangler's inspector port; two dev servers must not share it. */
  inspectorPort: number;
  /** Extra `--var NAME:VALUE` bindings. */
  vars?: Record<string, string>;
  /** Keep storage here (a fresh temporary folder when absent). */
  persistTo?: string;
  timeoutMs?: number;
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const persist = options.persistTo ?? mkdtempSync(join(tmpdir(), "wrangler-e2e-"));
  const vars = Object.entries(options.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const child = spawn(
    join(root, "node_modules/.bin/wrangler"),
    [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(options.port),
      "--inspector-port",
      String(options.inspectorPort),
      "--persist-to",
      persist,
      "--show-interactive-dev-session=false",
      ...vars,
    ],
    {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "1" },
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const http = `http://127.0.0.1:${options.port}`;
  const server: DevServer = {
    http,
    ws: `ws://127.0.0.1:${options.port}`,
    output: () => output,
    descriptors: () => (child.pid === undefined ? undefined : workerdDescriptors(child.pid)),
    stop: async () => {
      await stop(child);
      if (!options.persistTo) rmSync(persist, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    }
    if (output.includes("Ready on")) {
      try {
        await fetch(`${http}/`);
        return server;
      } catch {
        // not listening yet
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await server.stop();
  throw new Error(`wrangler dev did not become ready in time:\n${output}`);
}

/** Ends wrangler and the workerd it started (one process group). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // gone
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

/** Lines of wrangler's output that report an error thrown out of the Worker. */
export function uncaughtErrors(output: string): string[] {
  return output.split("\n").filter((line) => /uncaught|✘ \[ERROR\]/i.test(line));
}
