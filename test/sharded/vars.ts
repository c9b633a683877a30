// The variables of the `sharded` vitest project (vitest.config.ts): rooms of up
// to 10 members on objects of 3, so a full room spans 4 objects (shards 0–3).
export const SHARDED = {
  MAX_CONNECTIONS_PER_ROOM: "10",
  MAX_CONNECTIONS_PER_OBJECT: "3",
  // At most the object cap, as a room that spans objects requires.
  PRESENCE_LIMIT: "3",
  // Plenty for the messages a test says.
  HISTORY_LIMIT: "50",
  // Longer than any test runs: no alarm closes a socket on its own.
  IDLE_TIMEOUT_SECONDS: "600",
};
