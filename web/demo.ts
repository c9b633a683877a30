// The demo page at `/`: a chat room on the typed client of js/client.ts, and a
// panel that shows the room's object going to sleep and waking. Bundled into
// public/demo.js by `npm run build`. Every piece of user text goes through
// textContent, never innerHTML.

import {
  type HistoryEvent,
  type Message,
  type Peer,
  type Presence,
  RoomClient,
  roomPath,
  type ServerFrame,
  type Status,
} from "../js/client";
import { unhandled } from "../js/unhandled";
import type { Stats } from "../pkg/core.js";

/** How often the panel may ask for stats by itself: well past the ~10 s idle threshold. */
const AUTO_REFRESH_MS = 60_000;

/**
 * How long "… is typing" stays after that member's last `typing`: longer than
 * the client's interval between two (2.5 s), so it stays up while they type.
 */
const TYPING_SHOWN_MS = 4_000;

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

const ui = {
  status: $("status"),
  joinForm: $<HTMLFormElement>("join"),
  room: $<HTMLInputElement>("room"),
  name: $<HTMLInputElement>("name"),
  app: $("app"),
  roomTitle: $("room-title"),
  log: $("log"),
  sayForm: $<HTMLFormElement>("say"),
  text: $<HTMLInputElement>("text"),
  typing: $("typing"),
  whisperTo: $("whisper-to"),
  whisperName: $("whisper-name"),
  whisperCancel: $("whisper-cancel"),
  roster: $("roster"),
  count: $("count"),
  showAll: $<HTMLButtonElement>("show-all"),
  wakes: $("wakes"),
  started: $("started"),
  lastWake: $("last-wake"),
  connections: $("connections"),
  refresh: $<HTMLButtonElement>("refresh"),
  auto: $<HTMLInputElement>("auto"),
  statsNote: $("stats-note"),
};

let client: RoomClient | null = null;
let room = "";
let selfId = "";
let welcomed = false;
/** Names by id as the last presence had them (a `renamed` note needs the old one). */
const roster = new Map<string, string>();
let presence: Presence | null = null;
let whisperTo: Peer | null = null;
let countdown: ReturnType<typeof setInterval> | null = null;
/** Messages still to come from the last `history` frame (shown as replayed). */
let replaying = 0;
let autoRefresh: ReturnType<typeof setInterval> | null = null;
/** Who is typing, by id: their name and the timer that forgets them. */
const typists = new Map<string, { name: string; timer: ReturnType<typeof setTimeout> }>();

// --- joining ---------------------------------------------------------------

const params = new URLSearchParams(location.search);
ui.room.value = params.get("room") || "lobby";
ui.name.value = params.get("name") ?? "";
if (ui.name.value.trim()) join(ui.room.value.trim(), ui.name.value.trim());

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const roomName = ui.room.value.trim();
  const name = ui.name.value.trim();
  if (!roomName || !name) return;
  // Kept in the address, so a reload joins again.
  history.replaceState(null, "", `?${new URLSearchParams({ room: roomName, name })}`);
  join(roomName, name);
});

function join(roomName: string, name: string): void {
  client?.close(1000, "left the page's room");
  room = roomName;
  welcomed = false;
  replaying = 0;
  selfId = "";
  roster.clear();
  presence = null;
  clearTyping();
  setWhisper(null);
  ui.log.replaceChildren();
  renderRoster();
  ui.roomTitle.textContent = `Room ${roomName}`;
  ui.app.hidden = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  client = new RoomClient({
    base: `${scheme}//${location.host}`,
    room: roomName,
    name,
    backoff: { initialMs: 500, maxMs: 10_000, factor: 2 },
    // The keepalive (the text ping every 30 s, RoomClient's default) is
    // answered by the runtime without waking the room: it finds dead
    // connections, and keeps the server from closing this one as idle.
  });
  client.on("status", renderStatus);
  client.on("frame", onFrame);
  client.on("message", onMessage);
  client.on("history", onHistory);
  client.on("presence", setPresence);
  renderStatus(client.status);
}

// --- frames ----------------------------------------------------------------

function onFrame(frame: ServerFrame): void {
  switch (frame.type) {
    // The roster itself follows `client.presence` (setPresence); frames add notes.
    case "welcome": {
      selfId = frame.id;
      const me = frame.connections.find((peer) => peer.id === frame.id)?.name ?? "";
      note(welcomed ? `reconnected as ${me}` : `you joined ${frame.room} as ${me}`);
      welcomed = true;
      clearTyping();
      void refreshStats();
      break;
    }
    case "joined":
      note(`${frame.name} joined`);
      break;
    case "left":
      note(`${frame.name} left`);
      if (whisperTo?.id === frame.id) setWhisper(null);
      stoppedTyping(frame.id);
      break;
    case "renamed":
      note(`${roster.get(frame.id) ?? "someone"} is now ${frame.name}`);
      break;
    case "roster":
      break;
    // Messages are shown once each through the client's `message` event
    // (onMessage), history frames through `history` (onHistory).
    case "message":
      stoppedTyping(frame.id);
      break;
    case "history":
      break;
    case "whisper":
      line("whisper", `${frame.name} → you`, frame.text, frame.ts);
      break;
    case "error":
      line("error", frame.code, frame.message, Date.now());
      break;
    case "typing":
      startedTyping(frame.id, frame.name);
      break;
    case "pong":
      break;
    default:
      unhandled(frame);
  }
}

/** Each message once, in order: live, or recovered by a reconnect, or the room's recent ones. */
function onMessage(message: Message): void {
  const item = line("message", message.name, message.text, message.ts);
  if (replaying > 0) {
    replaying--;
    item.classList.add("replayed");
  }
}

/** What a connection's history brings, told before its messages appear. */
function onHistory(history: HistoryEvent): void {
  replaying = history.missed;
  const count = `${history.missed} ${history.missed === 1 ? "message" : "messages"}`;
  if (!history.resumed) {
    if (history.missed > 0) note(`the room's last ${count}:`);
  } else if (history.recovered) {
    if (history.missed > 0) note(`${count} sent while you were away:`);
  } else {
    gap(
      history.missed > 0
        ? `messages were missed here; the room's last ${count} follow`
        : "messages may have been missed here",
    );
  }
}

// --- typing ----------------------------------------------------------------

// Tells the room while something is being typed (RoomClient throttles it); not
// while writing a whisper, which the whole room would otherwise hear of.
ui.text.addEventListener("input", () => {
  if (ui.text.value.trim() && whisperTo === null) client?.typing();
});

function startedTyping(id: string, name: string): void {
  if (id === selfId) return; // the server never sends it; another tab of ours has its own id
  const known = typists.get(id);
  if (known) clearTimeout(known.timer);
  const timer = setTimeout(() => stoppedTyping(id), TYPING_SHOWN_MS);
  typists.set(id, { name, timer });
  renderTyping();
}

function stoppedTyping(id: string): void {
  const known = typists.get(id);
  if (!known) return;
  clearTimeout(known.timer);
  typists.delete(id);
  renderTyping();
}

function clearTyping(): void {
  for (const { timer } of typists.values()) clearTimeout(timer);
  typists.clear();
  renderTyping();
}

function renderTyping(): void {
  const names = [...typists.values()].map((typist) => typist.name);
  ui.typing.textContent =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length === 2
          ? `${names[0]} and ${names[1]} are typing…`
          : `${names.length} people are typing…`;
}

ui.sayForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value;
  if (!client || !text.trim()) return;
  const target = whisperTo;
  const accepted = target
    ? client.send({ type: "whisper", to: target.id, text })
    : client.send({ type: "say", text });
  if (!accepted) {
    line("error", "not sent", "the connection is closed or too much is waiting", Date.now());
    return;
  }
  // The server does not echo a whisper to its sender.
  if (target) line("whisper", `you → ${target.name}`, text, Date.now());
  if (client.status.state !== "open") note("queued: it goes out when the connection is back");
  ui.text.value = "";
});

ui.whisperCancel.addEventListener("click", () => setWhisper(null));

function setWhisper(peer: Peer | null): void {
  whisperTo = peer;
  ui.whisperTo.hidden = peer === null;
  ui.whisperName.textContent = peer?.name ?? "";
  ui.text.placeholder = peer ? `Whisper to ${peer.name}` : "Say something";
  if (peer) ui.text.focus();
}

// --- rendering (text only) -------------------------------------------------

function setPresence(next: Presence): void {
  presence = next;
  roster.clear();
  for (const peer of next.peers) roster.set(peer.id, peer.name);
  if (whisperTo && !roster.has(whisperTo.id) && next.complete) setWhisper(null);
  renderRoster();
}

ui.showAll.addEventListener("click", () => {
  ui.showAll.disabled = true;
  client
    ?.loadPresence()
    .catch((error) =>
      note(`could not list everyone: ${error instanceof Error ? error.message : error}`),
    )
    .finally(() => {
      ui.showAll.disabled = false;
    });
});

function renderRoster(): void {
  const items = [...roster].map(([id, name]) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.id = id;
    if (id === selfId) {
      button.textContent = `${name} (you)`;
      button.disabled = true;
    } else {
      button.textContent = name;
      button.title = `Whisper to ${name}`;
      button.addEventListener("click", () => setWhisper({ id, name }));
    }
    item.append(button);
    return item;
  });
  ui.roster.replaceChildren(...items);
  // Above the server's presence limit the list is a sample: say so, and offer the rest.
  const count = presence?.count ?? 0;
  const incomplete = presence !== null && !presence.complete;
  ui.count.textContent = count
    ? `${count} ${count === 1 ? "member" : "members"}${incomplete ? ` (showing ${roster.size})` : ""}`
    : "";
  ui.showAll.hidden = !incomplete;
}

function line(
  kind: "message" | "whisper" | "error",
  who: string,
  text: string,
  ts: number,
): HTMLElement {
  const item = document.createElement("li");
  item.className = kind;
  const time = document.createElement("time");
  time.dateTime = new Date(ts).toISOString();
  time.textContent = new Date(ts).toLocaleTimeString();
  const author = document.createElement("span");
  author.className = "who";
  author.textContent = who;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(time, author, body);
  append(item);
  return item;
}

function note(text: string): void {
  const item = document.createElement("li");
  item.className = "event";
  item.textContent = text;
  append(item);
}

/** Marks, in place, a stretch of messages a reconnect could not recover. */
function gap(text: string): void {
  const item = document.createElement("li");
  item.className = "gap";
  item.setAttribute("role", "separator");
  item.textContent = text;
  append(item);
}

function append(item: HTMLElement): void {
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  ui.log.append(item);
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

function renderStatus(status: Status): void {
  if (countdown !== null) clearInterval(countdown);
  countdown = null;
  ui.status.dataset.state = status.state;
  switch (status.state) {
    case "idle":
      ui.status.textContent = "not connected";
      break;
    case "connecting":
      ui.status.textContent =
        status.attempt > 1 ? `connecting (attempt ${status.attempt})…` : "connecting…";
      break;
    case "open":
      ui.status.textContent = "open";
      break;
    case "reconnecting": {
      const due = Date.now() + status.delayMs;
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
        ui.status.textContent = `reconnecting in ${seconds} s`;
      };
      tick();
      countdown = setInterval(tick, 250);
      break;
    }
    case "closed":
      ui.status.textContent =
        status.by === "server"
          ? `closed by the server (${status.code}${status.reason ? `: ${status.reason}` : ""})`
          : "closed";
      break;
    default:
      unhandled(status);
  }
}

// --- hibernation panel -----------------------------------------------------

ui.refresh.addEventListener("click", () => void refreshStats());
ui.auto.addEventListener("change", () => {
  if (autoRefresh !== null) clearInterval(autoRefresh);
  autoRefresh = ui.auto.checked ? setInterval(() => void refreshStats(), AUTO_REFRESH_MS) : null;
});

/** One stats request; it wakes the room, which is why nothing calls it on a short timer. */
async function refreshStats(): Promise<void> {
  if (!room) return;
  const asked = room;
  try {
    const response = await fetch(roomPath(asked));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const stats = (await response.json()) as Stats;
    if (asked !== room) return;
    ui.wakes.textContent = String(stats.wakes);
    ui.started.textContent = clock(stats.instance_started_at);
    ui.lastWake.textContent = stats.last_wake_at === null ? "never" : clock(stats.last_wake_at);
    ui.connections.textContent = String(stats.connections);
    ui.statsNote.textContent = `asked at ${new Date().toLocaleTimeString()} (that woke the room)`;
  } catch (error) {
    ui.statsNote.textContent = `could not read stats: ${error instanceof Error ? error.message : error}`;
  }
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}
