// A room's history in the Durable Object's SQLite: the statements, run when
// the Rust core asks (the head, through `HistoryStore`) or says (the `epoch`
// effect, a `send` with `store`, a `replay`). What is stored, what is
// replayed and what a row means is decided in rust/src/room/history.rs; this
// file is I/O only.
import type { HistoryStore } from "../pkg/core.js";

/**
 * The tables, created on the first statement of an instance that needs them:
 * a room with history off (HISTORY_LIMIT=0) never creates them. `seq` is the
 * rowid, so reading the head, a range of messages and trimming are index
 * lookups, and a message is one row written (plus one deleted once the room
 * keeps its limit).
 */
const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS history_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), epoch TEXT NOT NULL)",
  // `key`: set on the messages shard 0 stored for another shard of the room
  // (rust/src/shard.rs), so that a retried call stores its message once.
  "CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY, frame TEXT NOT NULL, key TEXT)",
];
/**
 * Shard 0's registry of the room's other shards (rust/src/shard.rs), created
 * by the first count stored: a room on one object never has it.
 */
const SHARDS_SCHEMA =
  "CREATE TABLE IF NOT EXISTS shards (shard INTEGER PRIMARY KEY, members INTEGER NOT NULL, version INTEGER NOT NULL)";
const HEAD =
  "SELECT (SELECT epoch FROM history_epoch WHERE id = 1) AS epoch, " +
  "(SELECT min(seq) FROM history) AS first, (SELECT max(seq) FROM history) AS last";
const AFTER = "SELECT frame FROM history WHERE seq > ? ORDER BY seq LIMIT ?";
const EPOCH = "INSERT OR REPLACE INTO history_epoch (id, epoch) VALUES (1, ?)";
const APPEND = "INSERT INTO history (seq, frame, key) VALUES (?, ?, ?)";
const FORGET = "DELETE FROM history WHERE seq <= ?";
const RESTART = "DELETE FROM history";
const MESSAGES = "SELECT seq, frame FROM history WHERE seq > ? ORDER BY seq LIMIT ?";
const PUBLISHED = "SELECT seq FROM history WHERE key = ?";
const HAS_SHARDS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'shards'";
const SHARDS = "SELECT shard, members, version FROM shards ORDER BY shard";
const REGISTER = "INSERT OR REPLACE INTO shards (shard, members, version) VALUES (?, ?, ?)";

export class SqlHistory implements HistoryStore {
  private ready = false;
  /** Rows this instance's writes changed, as the runtime counts them (the billed unit). */
  rowsWritten = 0;

  constructor(private readonly sql: SqlStorage) {}

  head(): [epoch: string | null, first: number | null, last: number | null] {
    return this.run("head", () => {
      const { epoch, first, last } = this.sql
        .exec<{ epoch: string | null; first: number | null; last: number | null }>(HEAD)
        .one();
      return [epoch, first, last];
    });
  }

  /** The stored frames with a seq above `after`, at most `limit`, comma-separated: a replay's messages. */
  after(after: number, limit: number): string {
    return this.run("after", () =>
      Array.from(this.sql.exec(AFTER, after, limit).raw(), ([frame]) => String(frame)).join(","),
    );
  }

  /** Starts the history under `epoch`. */
  epoch(epoch: string): void {
    this.run("epoch", () => this.count(this.sql.exec(EPOCH, epoch)));
  }

  /** Stores message `seq` (sent by another shard with `key`, if any), then forgets those up to `forget`. */
  append(seq: number, text: string, forget: number | undefined, key: string | undefined): void {
    this.run("append", () => {
      this.count(this.sql.exec(APPEND, seq, text, key ?? null));
      if (forget !== undefined) this.count(this.sql.exec(FORGET, forget));
    });
  }

  /** The stored messages with a seq above `after`, at most `limit`: their seqs and frames, for a delivery. */
  messages(after: number, limit: number): [seqs: number[], frames: string[]] {
    return this.run("messages", () => {
      const seqs: number[] = [];
      const frames: string[] = [];
      for (const [seq, frame] of this.sql.exec(MESSAGES, after, limit).raw()) {
        seqs.push(Number(seq));
        frames.push(String(frame));
      }
      return [seqs, frames];
    });
  }

  /** Forgets every stored message and starts again under `epoch` (a shard's copy of another history). */
  restart(epoch: string): void {
    this.run("restart", () => {
      this.count(this.sql.exec(RESTART));
      this.count(this.sql.exec(EPOCH, epoch));
    });
  }

  published(key: string): number | null {
    return this.run("published", () => {
      const row = this.sql.exec<{ seq: number }>(PUBLISHED, key).toArray()[0];
      return row === undefined ? null : Number(row.seq);
    });
  }

  shards(): number[] {
    // Read without creating anything: stats of a room never joined store nothing.
    try {
      if (this.sql.exec(HAS_SHARDS).toArray().length === 0) return [];
      return Array.from(this.sql.exec(SHARDS).raw()).flatMap((row) => row.map(Number));
    } catch (error) {
      console.error("WebSocketHibernationServer.history.shards:", error);
      throw error;
    }
  }

  /** Stores shard `shard`'s count in shard 0's registry. */
  register(shard: number, members: number, version: number): void {
    this.run("register", () => {
      this.sql.exec(SHARDS_SCHEMA);
      this.count(this.sql.exec(REGISTER, shard, members, version));
    });
  }

  private count(cursor: SqlStorageCursor<Record<string, SqlStorageValue>>): void {
    this.rowsWritten += cursor.rowsWritten;
  }

  /** Runs a statement, creating the tables first; a failure is logged with context and thrown on. */
  private run<T>(what: string, statement: () => T): T {
    try {
      if (!this.ready) {
        for (const create of SCHEMA) this.sql.exec(create);
        this.ready = true;
      }
      return statement();
    } catch (error) {
      console.error(`WebSocketHibernationServer.history.${what}:`, error);
      throw error;
    }
  }
}
