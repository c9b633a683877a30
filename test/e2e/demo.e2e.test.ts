// The demo page at `/`, in headless Chromium against `wrangler dev`: two
// people chat and whisper, see each other typing, a reload shows as
// left/joined, hostile names and messages stay text, the room hibernates under
// an open page, and the page reconnects when the server comes back. Every test
// fails on a console error, an uncaught exception, a dialog, or a request of
// the page's that failed or got a status of 400 or more.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
  type Request as PageRequest,
} from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "../../scripts/toolchain.mjs";
import { type DevServer, startDevServer, uncaughtErrors } from "./devServer";
import { connect } from "./net";

const PORT = 8820;
const INSPECTOR_PORT = 9320;
const CHROMIUM = chromiumPath();
const SCREENSHOTS = new URL("../../test-results/e2e/", import.meta.url).pathname;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

let persist = mkdtempSync(join(tmpdir(), "wrangler-demo-"));
/** Storage folders of the servers this file started, removed at the end. */
const folders = [persist];
let server: DevServer;
let browser: Browser;
/** The browser contexts of the running test, closed after it. */
let contexts: BrowserContext[] = [];

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  server = await startDevServer({ port: PORT, inspectorPort: INSPECTOR_PORT, persistTo: persist });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Stops the server and starts it again on `storage` (the same by default). */
async function restart(storage = persist): Promise<void> {
  expect(uncaughtErrors(server.output())).toEqual([]);
  await server.stop();
  persist = storage;
  server = await startDevServer({ port: PORT, inspectorPort: INSPECTOR_PORT, persistTo: persist });
}

/** While the server is down (or a test holds a page's connection), Chromium logs each failed attempt. */
const REFUSED = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/rooms\/.*' failed/;

/** Waits until the stats request the last welcome made is answered (a restart would cut it off). */
function statsAnswered(page: Page) {
  return page.waitForFunction(
    () => document.getElementById("stats-note")?.textContent?.startsWith("asked at"),
    null,
    { timeout: 10_000 },
  );
}

/** The texts of the chat messages in a page's log, in order. */
function messages(page: Page): Promise<string[]> {
  return page.locator("#log li.message .text").allTextContents();
}

/** A Node client in `room` that says things and waits for each to come back. */
async function speaker(room: string, name: string) {
  const client = await connect(`${server.ws}/rooms/${room}/websocket?name=${name}`);
  return {
    async say(text: string): Promise<void> {
      client.send(JSON.stringify({ type: "say", text }));
      for (;;) {
        const frame = JSON.parse(await client.next(10_000));
        if (frame.type === "message" && frame.text === text) return;
      }
    },
    close: () => client.close(1000),
  };
}

interface Watched {
  page: Page;
  /** What went wrong on the page so far; afterEach expects none. */
  problems: string[];
  /** Console errors matching these are expected for now (e.g. while the server is down). */
  expected: RegExp[];
}

/** The pages of the running test. */
let watched: Watched[] = [];

afterEach(async () => {
  const problems = watched.flatMap(({ problems }) => problems);
  watched = [];
  await Promise.all(contexts.map((context) => context.close()));
  contexts = [];
  expect(problems, "console errors, page errors, dialogs or failed requests").toEqual([]);
});

/**
 * A fresh browser context (its own storage) with a page whose every console
 * error, uncaught exception, dialog, failed request and response of 400 or
 * more from the server under test is recorded as a problem.
 */
async function newPage(viewport = DESKTOP): Promise<Watched> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  const watch: Watched = { page, problems: [], expected: [] };
  const problem = (text: string) => watch.problems.push(text);
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (!watch.expected.some((pattern) => pattern.test(text))) {
      problem(`console.error: ${text} (${message.location().url})`);
    }
  });
  page.on("pageerror", (error) => problem(`pageerror: ${error.message}`));
  // A request the browser cancels because its page navigated away (a reload
  // while the icon still loads) is not a failure: a request is numbered by the
  // navigations of the page started before it, and one aborted after a later
  // navigation started belongs to a document that is gone.
  let navigations = 0;
  const issuedAfter = new WeakMap<PageRequest, number>();
  page.on("request", (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) navigations++;
    issuedAfter.set(request, navigations);
  });
  page.on("requestfailed", (request) => {
    const error = request.failure()?.errorText ?? "";
    const left = (issuedAfter.get(request) ?? navigations) < navigations;
    if (error === "net::ERR_ABORTED" && left && !request.isNavigationRequest()) return;
    problem(`requestfailed: ${request.url()} ${error}`);
  });
  page.on("response", (response) => {
    if (response.url().startsWith(server.http) && response.status() >= 400) {
      problem(`HTTP ${response.status()}: ${response.url()}`);
    }
  });
  page.on("dialog", (dialog) => {
    problem(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  watched.push(watch);
  return watch;
}

/** Opens `/`, fills the join form and waits for the room's welcome. */
async function joinRoom(page: Page, room: string, name: string): Promise<void> {
  await page.goto(`${server.http}/`);
  await page.fill("#room", room);
  await page.fill("#name", name);
  await page.click("#join button[type=submit]");
  await status(page, "open");
  await logLine(page, `you joined ${room} as ${name}`);
}

function status(page: Page, state: string, timeout = 10_000) {
  return page.waitForSelector(`#status[data-state="${state}"]`, { timeout });
}

/** Waits for a log line containing `text`. */
function logLine(page: Page, text: string, timeout = 10_000) {
  return page.locator("#log li", { hasText: text }).first().waitFor({ timeout });
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill("#text", text);
  await page.click("#say button[type=submit]");
}

function roster(page: Page): Promise<string[]> {
  return page.locator("#roster button").allTextContents();
}

/** Presses Refresh and waits for the panel's answer (its note is cleared first). */
async function refreshedWakes(page: Page): Promise<number> {
  await page.evaluate(() => {
    const note = document.getElementById("stats-note");
    if (note) note.textContent = "";
  });
  await page.click("#refresh");
  await page.waitForFunction(
    () => document.getElementById("stats-note")?.textContent !== "",
    null,
    {
      timeout: 10_000,
    },
  );
  expect(await page.textContent("#stats-note")).toMatch(/^asked at /);
  return Number(await page.textContent("#wakes"));
}

const freshRoom = () => `demo-${crypto.randomUUID().slice(0, 8)}`;

describe("demo page", () => {
  it("is served at / while other URLs still reach the Worker", async () => {
    const page = await fetch(`${server.http}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script type="module" src="/demo.js">');
    expect((await fetch(`${server.http}/demo.js`)).status).toBe(200);
    // Without an icon of its own, every browser load asks for /favicon.ico (a 400 here).
    const icon = await fetch(`${server.http}/favicon.svg`);
    expect([icon.status, icon.headers.get("content-type")]).toEqual([200, "image/svg+xml"]);
    const other = await fetch(`${server.http}/foo`);
    expect(other.status).toBe(400);
    expect(await other.text()).toBe("");
    const stats = await fetch(`${server.http}/rooms/lobby`);
    expect(await stats.json()).toMatchObject({ room: "lobby" });
  });

  it("lets two people join, chat, whisper, and see a reload as left and joined", async () => {
    const room = freshRoom();
    const ada = await newPage(DESKTOP);
    const bob = await newPage(PHONE);
    await ada.page.goto(`${server.http}/`);
    expect(await ada.page.inputValue("#room")).toBe("lobby");

    await joinRoom(ada.page, room, "Ada");
    await joinRoom(bob.page, room, "Bob");
    await logLine(ada.page, "Bob joined");
    expect(await roster(ada.page)).toEqual(["Ada (you)", "Bob"]);
    expect(await roster(bob.page)).toEqual(["Ada", "Bob (you)"]);
    expect(await ada.page.textContent("#count")).toBe("2 members");
    expect(await ada.page.isHidden("#show-all")).toBe(true);

    await say(ada.page, "hello Bob");
    await logLine(bob.page, "hello Bob");
    await say(bob.page, "hi Ada");
    await logLine(ada.page, "hi Ada");

    // A whisper: Bob clicks Ada's name; Ada sees it, nobody else does.
    await bob.page.click('#roster button:text-is("Ada")');
    await bob.page.waitForSelector("#whisper-to:not([hidden])");
    await say(bob.page, "a secret");
    await logLine(ada.page, "Bob → you");
    const whisper = ada.page.locator("#log li.whisper").last();
    expect(await whisper.locator(".text").textContent()).toBe("a secret");
    await logLine(bob.page, "you → Ada");

    // Screenshots at phone and desktop size, and no sideways scrolling on either.
    for (const [who, size] of [
      [ada, "desktop"],
      [bob, "phone"],
    ] as const) {
      const overflow = await who.page.evaluate(
        () => document.documentElement.scrollWidth - window.innerWidth,
      );
      expect(overflow, size).toBeLessThanOrEqual(0);
      await who.page.screenshot({ path: join(SCREENSHOTS, `demo-${size}.png`), fullPage: true });
    }

    // Bob reloads: the page joins again by itself (room and name are in the address).
    await bob.page.reload();
    await status(bob.page, "open");
    await logLine(ada.page, "Bob left");
    await ada.page
      .locator("#log li", { hasText: "Bob joined" })
      .nth(1)
      .waitFor({ timeout: 10_000 });
    expect(await roster(ada.page)).toEqual(["Ada (you)", "Bob"]);
    expect([...ada.problems, ...bob.problems]).toEqual([]);
  });

  it("shows '… is typing' to the others while someone types, never to the typist, and hides it again", async () => {
    const room = freshRoom();
    const ada = await newPage(DESKTOP);
    const bob = await newPage(PHONE);
    await joinRoom(ada.page, room, "Ada");
    await joinRoom(bob.page, room, "Bob");
    await logLine(ada.page, "Bob joined");
    // Everything Bob's own indicator ever shows.
    await bob.page.evaluate(() => {
      const typing = document.getElementById("typing");
      const seen: string[] = [];
      (window as { typingSeen?: string[] }).typingSeen = seen;
      if (typing) {
        new MutationObserver(() => seen.push(typing.textContent ?? "")).observe(typing, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      }
    });
    const indicator = (page: Page, text: string) =>
      page.waitForFunction(
        (want) => document.getElementById("typing")?.textContent === want,
        text,
        {
          timeout: 10_000,
        },
      );

    await bob.page.locator("#text").pressSequentially("hello A", { delay: 20 });
    await indicator(ada.page, "Bob is typing…");
    // Bob stops typing: a few seconds later it is gone by itself.
    const shown = Date.now();
    await indicator(ada.page, "");
    expect(Date.now() - shown).toBeGreaterThan(1_000);

    // Bob types again and sends: it goes with the message.
    await bob.page.locator("#text").pressSequentially("da", { delay: 20 });
    await indicator(ada.page, "Bob is typing…");
    await bob.page.click("#say button[type=submit]");
    await logLine(ada.page, "hello Ada");
    expect(await ada.page.textContent("#typing")).toBe("");

    // Ada types too: Bob sees her, and never himself.
    await ada.page.locator("#text").pressSequentially("hi", { delay: 20 });
    await indicator(bob.page, "Ada is typing…");
    const seen = await bob.page.evaluate(() => (window as { typingSeen?: string[] }).typingSeen);
    expect(seen?.filter((text) => text !== "")).toEqual(["Ada is typing…"]);
  });

  it("renders hostile names and messages as text and runs none of them", async () => {
    const room = freshRoom();
    const name = "<img src=x onerror=alert(1)>";
    const text = `<img src=x onerror="window.pwned=1;alert(2)"><script>alert(3)</script>`;
    const mallory = await newPage();
    const ada = await newPage();
    await joinRoom(ada.page, room, "Ada");
    await joinRoom(mallory.page, room, name);
    await logLine(ada.page, `${name} joined`);
    await say(mallory.page, text);
    await logLine(ada.page, text);
    await logLine(mallory.page, text);

    expect(await roster(ada.page)).toEqual(["Ada (you)", name]);
    expect(await roster(mallory.page)).toEqual(["Ada", `${name} (you)`]);
    for (const { page } of [ada, mallory]) {
      const message = page.locator("#log li.message").last();
      expect(await message.locator(".who").textContent()).toBe(name);
      expect(await message.locator(".text").textContent()).toBe(text);
      expect(await page.locator("#log img, #roster img, #log script").count()).toBe(0);
      expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
    }
    // Give a wrongly created image time to fail loading and fire onerror.
    await ada.page.waitForTimeout(500);
    expect([...ada.problems, ...mallory.problems]).toEqual([]);
  });

  it("survives a hibernation: idle past 10 s, a message still goes through and wakes grows", async () => {
    const room = freshRoom();
    const ada = await newPage();
    const bob = await newPage(PHONE);
    await joinRoom(ada.page, room, "Ada");
    await joinRoom(bob.page, room, "Bob");
    await logLine(ada.page, "Bob joined");
    const before = await refreshedWakes(ada.page);
    expect(before).toBeGreaterThanOrEqual(1);

    // Both pages stay open and idle; the room's object is evicted meanwhile.
    await ada.page.waitForTimeout(15_000);
    await say(bob.page, "still here after a nap");
    await logLine(ada.page, "still here after a nap");
    const after = await refreshedWakes(ada.page);
    expect(after).toBeGreaterThan(before);
    expect(await ada.page.textContent("#last-wake")).not.toBe("never");
    expect(await ada.page.textContent("#connections")).toBe("2");
    expect(await status(ada.page, "open")).toBeTruthy();
  }, 60_000);

  it("shows reconnecting while the server is down and recovers when it is back", async () => {
    const room = freshRoom();
    const ada = await newPage();
    const bob = await newPage(PHONE);
    await joinRoom(ada.page, room, "Ada");
    await joinRoom(bob.page, room, "Bob");
    await logLine(ada.page, "Bob joined");

    expect(uncaughtErrors(server.output())).toEqual([]);
    // Each welcome asked for stats: answered before the server goes, not cut off.
    for (const { page } of [ada, bob]) {
      await page.waitForFunction(
        () => document.getElementById("stats-note")?.textContent?.startsWith("asked at"),
        null,
        { timeout: 10_000 },
      );
    }
    for (const page of [ada, bob]) page.expected.push(REFUSED);
    await server.stop();
    for (const { page } of [ada, bob]) {
      // Each retry fails while the server is down, so the pill keeps coming back to this.
      await page.waitForFunction(
        () => {
          const pill = document.getElementById("status");
          return (
            pill?.dataset.state === "reconnecting" &&
            /^reconnecting in \d+ s$/.test(pill.textContent ?? "")
          );
        },
        null,
        { timeout: 10_000 },
      );
    }
    // Sent while the server is down: queued by the client, sent after the reconnect.
    await say(ada.page, "sent while offline");
    await logLine(ada.page, "queued");

    server = await startDevServer({
      port: PORT,
      inspectorPort: INSPECTOR_PORT,
      persistTo: persist,
    });
    for (const { page } of [ada, bob]) {
      await status(page, "open", 60_000);
      await logLine(page, "reconnected as", 10_000);
    }
    for (const page of [ada, bob]) page.expected.length = 0;
    await logLine(ada.page, "sent while offline");
    expect(
      await ada.page.locator("#log li.message", { hasText: "sent while offline" }).count(),
    ).toBe(1);
    // Both back in the same room: a new message reaches the other page.
    await bob.page.waitForFunction(() => document.querySelectorAll("#roster button").length === 2);
    await say(ada.page, "back online");
    await logLine(bob.page, "back online");
    expect([...ada.problems, ...bob.problems]).toEqual([]);
  }, 180_000);

  it("shows a newcomer the room's recent messages, and fills in place, once each, what was said while it was away", async () => {
    const room = freshRoom();
    const ada = await newPage();
    // Ada's connections go through a gate the test holds shut while Bob speaks.
    let gate: Promise<void> = Promise.resolve();
    await ada.page.routeWebSocket(/\/rooms\//, async (ws) => {
      await gate;
      ws.connectToServer();
    });
    await joinRoom(ada.page, room, "Ada");
    await say(ada.page, "before 1");
    await say(ada.page, "before 2");
    await logLine(ada.page, "before 2");

    const cy = await newPage(PHONE);
    await joinRoom(cy.page, room, "Cy");
    await logLine(cy.page, "the room's last 2 messages:");
    expect(await messages(cy.page)).toEqual(["before 1", "before 2"]);
    expect(await cy.page.locator("#log li.message.replayed").count()).toBe(2);
    await cy.page.close();

    let open = () => {};
    gate = new Promise((resolve) => {
      open = resolve;
    });
    await statsAnswered(ada.page);
    ada.expected.push(REFUSED);
    await restart();
    // The restart dropped Ada; the gate keeps her out while Bob speaks.
    await ada.page.waitForSelector('#status:not([data-state="open"])', { timeout: 10_000 });
    const bob = await speaker(room, "Bob");
    for (const text of ["while away 1", "while away 2", "while away 3"]) await bob.say(text);
    open();
    await status(ada.page, "open", 60_000);
    await logLine(ada.page, "3 messages sent while you were away:", 10_000);
    expect(await messages(ada.page)).toEqual([
      "before 1",
      "before 2",
      "while away 1",
      "while away 2",
      "while away 3",
    ]);
    await bob.say("live again");
    await logLine(ada.page, "live again");
    expect(await ada.page.locator("#log li.gap").count()).toBe(0);
    await ada.page.screenshot({ path: join(SCREENSHOTS, "history-filled.png") });
    bob.close();
    await statsAnswered(ada.page);
  }, 240_000);

  it("marks a gap it cannot fill: the server came back with its storage lost", async () => {
    const room = freshRoom();
    const ada = await newPage();
    await joinRoom(ada.page, room, "Ada");
    await say(ada.page, "kept only in the old storage");
    await logLine(ada.page, "kept only in the old storage");
    const wiped = mkdtempSync(join(tmpdir(), "wrangler-demo-"));
    folders.push(wiped);
    await statsAnswered(ada.page);
    ada.expected.push(REFUSED);
    await restart(wiped);
    await status(ada.page, "open", 60_000);
    const gap = ada.page.locator("#log li.gap");
    await gap.waitFor({ timeout: 10_000 });
    expect(await gap.textContent()).toBe("messages may have been missed here");
    expect(await gap.isVisible()).toBe(true);
    await say(ada.page, "in the new history");
    await logLine(ada.page, "in the new history");
    await ada.page.screenshot({ path: join(SCREENSHOTS, "history-gap.png") });
    await statsAnswered(ada.page);
  }, 240_000);

  it("in a room above PRESENCE_LIMIT (100) shows N members (showing M), and lists everyone on request", async () => {
    const room = freshRoom();
    const crowd = [];
    for (let i = 0; i < 101; i++) {
      crowd.push(await connect(`${server.ws}/rooms/${room}/websocket?name=crowd-${i}`));
    }
    const ada = await newPage(DESKTOP);
    await joinRoom(ada.page, room, "Ada");
    await ada.page.waitForFunction(
      () => document.querySelector("#count")?.textContent === "102 members (showing 100)",
    );
    expect((await roster(ada.page)).length).toBe(100);
    expect(await roster(ada.page)).toContain("Ada (you)");
    await ada.page.click("#show-all");
    await ada.page.waitForFunction(
      () => document.querySelector("#count")?.textContent === "102 members",
    );
    expect((await roster(ada.page)).length).toBe(102);
    expect(await ada.page.isHidden("#show-all")).toBe(true);
    await ada.page.screenshot({ path: `${SCREENSHOTS}large-room.png` });
    for (const client of crowd) client.close(1000);
    expect(ada.problems).toEqual([]);
  });
});
