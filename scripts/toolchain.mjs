// Makes sure the Rust → Wasm toolchain this project needs is present, and
// installs what is missing: the wasm32 target, wasm-pack, and the
// wasm-bindgen CLI of exactly the version Cargo.lock pins. With `--browser`
// (the first step of `npm test`), also the Chromium the demo page's browser
// tests drive.
// wasm-opt comes from the npm package `binaryen` (node_modules/.bin, on PATH
// under `npm run`); Node ≥ 22.12 for wrangler comes from the npm package `node`.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

const root = new URL("..", import.meta.url).pathname;

/** Puts ~/.cargo/bin on PATH when a shell profile did not. */
export function cargoOnPath() {
  const bin = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "bin");
  const path = process.env.PATH ?? "";
  if (existsSync(bin) && !path.split(delimiter).includes(bin)) {
    process.env.PATH = `${bin}${delimiter}${path}`;
  }
}

function say(message) {
  console.error(`[toolchain] ${message}`);
}

function output(command, args) {
  const result = spawnSync(command, args, { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : null;
}

function run(command, args) {
  say(`$ ${command} ${args.join(" ")}`);
  execFileSync(command, args, { stdio: "inherit" });
}

/** The wasm-bindgen version Cargo.lock resolved (Cargo.toml pins it with `=`). */
export function lockedWasmBindgenVersion() {
  const lock = readFileSync(join(root, "Cargo.lock"), "utf8");
  const match = lock.match(/name = "wasm-bindgen"\nversion = "([^"]+)"/);
  if (!match)
    throw new Error("Cargo.lock has no wasm-bindgen entry; run `cargo generate-lockfile`");
  return match[1];
}

export function ensureToolchain() {
  cargoOnPath();
  if (!output("cargo", ["--version"])) {
    throw new Error("cargo not found: install Rust with rustup (https://rustup.rs) first");
  }
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 22 || (major === 22 && minor < 12)) {
    say(
      `Node ${process.versions.node} is older than wrangler needs (22.12); run scripts through npm so the project's node@22 is used`,
    );
  }
  const targets = output("rustup", ["target", "list", "--installed"]) ?? "";
  if (!targets.split("\n").includes("wasm32-unknown-unknown")) {
    say("installing the Rust target wasm32-unknown-unknown (once)");
    run("rustup", ["target", "add", "wasm32-unknown-unknown"]);
  }
  if (!output("wasm-pack", ["--version"])) {
    say("installing wasm-pack with cargo (once, a few minutes)");
    run("cargo", ["install", "wasm-pack"]);
  }
  const want = lockedWasmBindgenVersion();
  const have = output("wasm-bindgen", ["--version"])?.split(" ")[1];
  if (have !== want) {
    say(
      `installing wasm-bindgen-cli ${want} to match the crate (found ${have ?? "none"}; once, a few minutes)`,
    );
    // Not --locked: the registry mirror lacks some of the newest transitive versions.
    run("cargo", ["install", "wasm-bindgen-cli", "--version", `=${want}`, "--force"]);
  }
  if (!output("wasm-opt", ["--version"])) {
    throw new Error(
      "wasm-opt not found: run `npm install` (it comes from the npm package binaryen)",
    );
  }
}

/** Where the browser tests find Chromium: `CHROMIUM_PATH`, else Debian's package. */
export function chromiumPath() {
  return process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
}

/**
 * Chromium for test/e2e/demo.e2e.test.ts (driven by playwright-core, which
 * downloads no browser). Installed with apt-get where that can work (Debian
 * and its derivatives, as root); anywhere else this fails at once and says
 * what to run.
 */
export function ensureChromium() {
  const path = chromiumPath();
  if (existsSync(path)) return;
  const isRoot = process.getuid?.() === 0;
  const hasApt = output("apt-get", ["--version"]) !== null;
  if (process.env.CHROMIUM_PATH === undefined && isRoot && hasApt) {
    say("installing chromium for the browser tests with apt-get (once, a minute or two)");
    run("apt-get", ["update"]);
    run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"]);
    if (existsSync(path)) return;
  }
  const how = hasApt
    ? "sudo apt-get install -y chromium"
    : "install Chromium with your system's package manager";
  throw new Error(
    `Chromium not found at ${path}; the demo page's browser tests need it. ` +
      `Run: ${how} (or set CHROMIUM_PATH to a Chromium or Chrome binary).`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureToolchain();
  if (process.argv.includes("--browser")) ensureChromium();
  say("ready");
}
