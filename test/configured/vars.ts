// The variables of the `configured` vitest project (vitest.config.ts): every
// row of README's configuration table set, as wrangler vars/secrets would.
export const CONFIGURED = {
  AUTH_SECRET: "test-only secret, 32 bytes or more, never deployed",
  ALLOWED_ORIGINS: "https://app.example, http://localhost:8787",
  // A number, as a wrangler `vars` entry may be.
  MAX_CONNECTIONS_PER_ROOM: 3,
  MAX_CONNECTIONS_PER_SUBJECT: "2",
  MAX_MESSAGE_BYTES: "1024",
  MAX_TEXT_CHARS: "100",
  // Above 2 members a room is "large": tested with 3 sockets (test/configured/presence.test.ts).
  PRESENCE_LIMIT: "2",
  // Rooms keep 3 messages and replay at most 2 to a joiner that does not resume
  // (test/configured/history.test.ts); HISTORY_LIMIT=0 has its own project.
  HISTORY_LIMIT: "3",
  HISTORY_ON_JOIN: 2,
  RATE_LIMIT_PER_SECOND: "1",
  RATE_LIMIT_BURST: "5",
  // Longer than any test here runs, so no alarm closes a socket on its own
  // (test/configured/idle.test.ts makes a member silent instead).
  IDLE_TIMEOUT_SECONDS: "60",
};
