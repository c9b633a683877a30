//! The server's limits and secrets, read from the Worker's `env` (wrangler
//! `vars` and secrets) and validated here, once, for the Worker and the
//! Durable Object alike.
//!
//! A value that does not parse or breaks its rule is an error that names the
//! variable, never a silent fallback to the default: the shim logs it and
//! every request gets `500` JSON `bad_config` until it is fixed.

use std::fmt;

use crate::limit::Rate;
use crate::origin;
use crate::text::Quoted;

/// The variables the server reads, with their defaults (see README).
pub const VARIABLES: &[&str] = &[
    "MAX_MESSAGE_BYTES",
    "MAX_CONNECTIONS_PER_ROOM",
    "MAX_CONNECTIONS_PER_OBJECT",
    "MAX_CONNECTIONS_PER_SUBJECT",
    "RATE_LIMIT_PER_SECOND",
    "RATE_LIMIT_BURST",
    "MAX_TEXT_CHARS",
    "PRESENCE_LIMIT",
    "HISTORY_LIMIT",
    "HISTORY_ON_JOIN",
    "IDLE_TIMEOUT_SECONDS",
    "ALLOWED_ORIGINS",
    "AUTH_SECRET",
];

/// The platform's limit on WebSocket connections per Durable Object.
pub const PLATFORM_MAX_CONNECTIONS: u32 = 32_768;
/// The largest `MAX_CONNECTIONS_PER_ROOM`: a room above
/// `MAX_CONNECTIONS_PER_OBJECT` spans several objects (see [`crate::shard`]).
pub const MAX_ROOM_CONNECTIONS: u32 = 1_000_000;
/// The platform's limit on a received WebSocket message: 32 MiB.
pub const PLATFORM_MAX_MESSAGE_BYTES: u32 = 32 << 20;
/// The largest `MAX_MESSAGE_BYTES`: 2 MiB, not the platform's 32 MiB.
///
/// A frame within the limit is copied into the core's Wasm memory, parsed,
/// and answered, and a Wasm memory never shrinks: it stays at the
/// high-water mark of the largest frame, for every object of the isolate,
/// whose 128 MB it shares with their JavaScript. Measured with
/// `test/large/memory.test.ts`, the costliest frame at the limit (a `say`
/// of 2-byte characters: the copy, the parsed text and the JSON of the
/// `message`, whose buffer grows by doubling) grows the memory by about 5
/// times its size: from 1.1 to 11.3 MiB at 2 MiB, to 21.3 MiB at 4 MiB.
/// 2 MiB keeps the worst frame near 10 MiB of the 128 MB.
pub const MAX_MESSAGE_BYTES_LIMIT: u32 = 2 << 20;
/// The largest `PRESENCE_LIMIT`: a welcome or roster page of 1,000 peers is
/// already ~40 KB of JSON, and presence above it is what `who` paging is for.
pub const MAX_PRESENCE_LIMIT: u32 = 1_000;
/// The largest `HISTORY_LIMIT` and `HISTORY_ON_JOIN`. One `history` frame
/// carries every message a resume missed, in one WebSocket message, so
/// `HISTORY_LIMIT` is also at most 32 MiB ÷ `MAX_MESSAGE_BYTES` (and its
/// default of 100 no more than that).
pub const MAX_HISTORY: u32 = 1_000;
/// The longest `IDLE_TIMEOUT_SECONDS`: a day. A dead socket lingers up to
/// this long, so anything longer is a typo rather than a choice.
pub const MAX_IDLE_TIMEOUT_SECONDS: u32 = 86_400;
/// The shortest `AUTH_SECRET` accepted: 32 bytes, HMAC-SHA256's output size.
pub const MIN_SECRET_BYTES: usize = 32;

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// A frame longer than this many bytes closes its socket with 1009.
    pub max_message_bytes: u32,
    /// A room refuses a further upgrade with 503 `room_full`.
    pub max_connections_per_room: u32,
    /// The most sockets one object holds; a room allowed more spans
    /// several objects (see [`crate::shard`]).
    pub max_connections_per_object: u32,
    /// With `AUTH_SECRET`: the most members of one room with the same token
    /// subject (`sub`); a further upgrade gets 429 `too_many_connections`.
    pub max_connections_per_subject: u32,
    /// Tokens a socket's bucket regains per second.
    pub rate_limit_per_second: Rate,
    /// Tokens a full bucket holds: the burst a socket may send at once.
    pub rate_limit_burst: u32,
    /// The longest `text` of `say` and `whisper`, in characters.
    pub max_text_chars: u32,
    /// Presence is pushed (`joined`, `left`, `renamed` to everyone) only
    /// while a room holds at most this many members; a welcome and a
    /// roster page list at most this many. Keeps a join O(limit), not O(n).
    pub presence_limit: u32,
    /// Messages a room keeps in its SQLite history, the latest first to
    /// stay; 0 turns history off (no writes, no `history` frame, no `seq`).
    pub history_limit: u32,
    /// The most kept messages a `history` frame replays to a joiner that
    /// does not resume (at most `history_limit` of them).
    pub history_on_join: u32,
    /// A room socket that sent no frame and no keepalive `ping` for longer
    /// than this many seconds is closed (see [`crate::liveness`]); 0 = never.
    pub idle_timeout_seconds: u32,
    /// Origins allowed to open a socket, normalised; empty allows any.
    pub allowed_origins: Vec<String>,
    /// When set, every upgrade needs a token signed with it.
    pub auth_secret: Option<Secret>,
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_bytes: 65_536,
            max_connections_per_room: 1_000,
            max_connections_per_object: 10_000,
            max_connections_per_subject: 10,
            rate_limit_per_second: Rate::per_second(20),
            rate_limit_burst: 40,
            max_text_chars: 4_096,
            presence_limit: 100,
            history_limit: 100,
            history_on_join: 50,
            idle_timeout_seconds: 120,
            allowed_origins: Vec::new(),
            auth_secret: None,
        }
    }
}

/// A variable whose value the server refuses to run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub name: &'static str,
    /// The value, or a placeholder for a secret.
    pub value: String,
    /// What the value must be.
    pub rule: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration variable {} = {} is invalid: {}",
            self.name, self.value, self.rule
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads every variable through `get` (`None` = unset); unset means the
    /// default, anything set must be valid.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let max_message_bytes = integer(
            &get,
            "MAX_MESSAGE_BYTES",
            defaults.max_message_bytes,
            1,
            MAX_MESSAGE_BYTES_LIMIT,
        )?;
        // A history frame carries up to HISTORY_LIMIT messages in one
        // WebSocket message: at most what the platform lets one hold.
        let history_cap = MAX_HISTORY.min(PLATFORM_MAX_MESSAGE_BYTES / max_message_bytes);
        let config = Config {
            max_message_bytes,
            max_connections_per_room: integer(
                &get,
                "MAX_CONNECTIONS_PER_ROOM",
                defaults.max_connections_per_room,
                1,
                MAX_ROOM_CONNECTIONS,
            )?,
            max_connections_per_object: integer(
                &get,
                "MAX_CONNECTIONS_PER_OBJECT",
                defaults.max_connections_per_object,
                1,
                PLATFORM_MAX_CONNECTIONS,
            )?,
            max_connections_per_subject: integer(
                &get,
                "MAX_CONNECTIONS_PER_SUBJECT",
                defaults.max_connections_per_subject,
                1,
                PLATFORM_MAX_CONNECTIONS,
            )?,
            rate_limit_per_second: rate(&get, defaults.rate_limit_per_second)?,
            rate_limit_burst: integer(
                &get,
                "RATE_LIMIT_BURST",
                defaults.rate_limit_burst,
                1,
                1_000_000,
            )?,
            max_text_chars: integer(
                &get,
                "MAX_TEXT_CHARS",
                defaults.max_text_chars,
                1,
                PLATFORM_MAX_MESSAGE_BYTES,
            )?,
            presence_limit: integer(
                &get,
                "PRESENCE_LIMIT",
                defaults.presence_limit,
                1,
                MAX_PRESENCE_LIMIT,
            )?,
            history_limit: integer(
                &get,
                "HISTORY_LIMIT",
                defaults.history_limit.min(history_cap),
                0,
                history_cap,
            )?,
            history_on_join: integer(
                &get,
                "HISTORY_ON_JOIN",
                defaults.history_on_join,
                0,
                MAX_HISTORY,
            )?,
            idle_timeout_seconds: integer(
                &get,
                "IDLE_TIMEOUT_SECONDS",
                defaults.idle_timeout_seconds,
                0,
                MAX_IDLE_TIMEOUT_SECONDS,
            )?,
            allowed_origins: origins(&get)?,
            auth_secret: secret(&get)?,
        };
        config.check_spanning(&get)?;
        Ok(config)
    }

    /// Whether a room may span several objects: its cap is above one
    /// object's.
    pub fn spans(&self) -> bool {
        self.max_connections_per_room > self.max_connections_per_object
    }

    /// The most sockets this object holds: one object's cap, and no more
    /// than the room's.
    pub fn object_cap(&self) -> u32 {
        self.max_connections_per_object
            .min(self.max_connections_per_room)
    }

    /// A room that may span objects needs what its shards rely on: a
    /// history (the seqs by which every shard delivers each message once,
    /// in order) and a presence limit no shard can exceed alone, so that
    /// a room on several shards is above it and presence is asked for.
    fn check_spanning(&self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if !self.spans() {
            return Ok(());
        }
        let why = |name: &'static str, value: u32, rule: String| ConfigError {
            name,
            value: get(name).map_or_else(|| format!("{value} (the default)"), |v| shown(&v)),
            rule,
        };
        if self.presence_limit > self.max_connections_per_object {
            return Err(why(
                "PRESENCE_LIMIT",
                self.presence_limit,
                format!(
                    "must be at most MAX_CONNECTIONS_PER_OBJECT ({}) when MAX_CONNECTIONS_PER_ROOM ({}) is above it",
                    self.max_connections_per_object, self.max_connections_per_room
                ),
            ));
        }
        if self.history_limit == 0 {
            return Err(why(
                "HISTORY_LIMIT",
                0,
                format!(
                    "must be at least 1 when MAX_CONNECTIONS_PER_ROOM ({}) is above MAX_CONNECTIONS_PER_OBJECT ({}): a room on several objects orders its messages by their seq",
                    self.max_connections_per_room, self.max_connections_per_object
                ),
            ));
        }
        Ok(())
    }
}

fn integer(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    let Some(value) = get(name) else {
        return Ok(default);
    };
    // Read as a u64, as every number the core reads (one parser in the
    // Wasm module, not one per integer type).
    match value.trim().parse::<u64>().map(u32::try_from) {
        Ok(Ok(n)) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError {
            name,
            value: shown(&value),
            rule: format!("must be a whole number from {min} to {max}"),
        }),
    }
}

fn rate(get: &impl Fn(&str) -> Option<String>, default: Rate) -> Result<Rate, ConfigError> {
    const NAME: &str = "RATE_LIMIT_PER_SECOND";
    let Some(value) = get(NAME) else {
        return Ok(default);
    };
    Rate::parse(value.trim()).ok_or_else(|| ConfigError {
        name: NAME,
        value: shown(&value),
        rule: "must be a number above 0 and at most 1000000, with at most 3 decimals".into(),
    })
}

fn origins(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "ALLOWED_ORIGINS";
    let Some(value) = get(NAME) else {
        return Ok(Vec::new());
    };
    // A loop, not `collect::<Result<Vec<_>, _>>()`, whose adapter costs the
    // Wasm module about 0.5 KiB.
    let mut origins = Vec::new();
    for entry in value.split(',').map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let Some(origin) = origin::parse(entry) else {
            return Err(ConfigError {
                name: NAME,
                value: shown(&value),
                rule: format!(
                    "{} is not an origin: write scheme://host[:port], comma-separated",
                    Quoted(&shown(entry))
                ),
            });
        };
        origins.push(origin);
    }
    Ok(origins)
}

fn secret(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, ConfigError> {
    const NAME: &str = "AUTH_SECRET";
    let Some(value) = get(NAME) else {
        return Ok(None);
    };
    if value.len() < MIN_SECRET_BYTES {
        return Err(ConfigError {
            name: NAME,
            value: format!("<secret of {} bytes>", value.len()),
            rule: format!(
                "must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`); \
                 leave it unset for an open server"
            ),
        });
    }
    Ok(Some(Secret(value.into_bytes())))
}

/// A value as the error shows it: at most 64 characters.
fn shown(value: &str) -> String {
    let mut shown: String = value.chars().take(64).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn unset_means_default() {
        assert_eq!(config(&[]), Ok(Config::default()));
    }

    #[test]
    fn reads_every_variable() {
        let secret = "s".repeat(32);
        let got = config(&[
            ("MAX_MESSAGE_BYTES", "1024"),
            ("MAX_CONNECTIONS_PER_ROOM", " 32768 "),
            ("MAX_CONNECTIONS_PER_OBJECT", "32768"),
            ("MAX_CONNECTIONS_PER_SUBJECT", "2"),
            ("RATE_LIMIT_PER_SECOND", "0.5"),
            ("RATE_LIMIT_BURST", "3"),
            ("MAX_TEXT_CHARS", "10"),
            ("PRESENCE_LIMIT", "1000"),
            ("HISTORY_LIMIT", "0"),
            ("HISTORY_ON_JOIN", "1000"),
            ("IDLE_TIMEOUT_SECONDS", "0"),
            (
                "ALLOWED_ORIGINS",
                "https://Example.com/, http://localhost:8787",
            ),
            ("AUTH_SECRET", &secret),
        ]);
        assert_eq!(
            got,
            Ok(Config {
                max_message_bytes: 1024,
                max_connections_per_room: 32_768,
                max_connections_per_object: 32_768,
                max_connections_per_subject: 2,
                rate_limit_per_second: Rate::parse("0.5").expect("rate"),
                rate_limit_burst: 3,
                max_text_chars: 10,
                presence_limit: 1_000,
                history_limit: 0,
                history_on_join: 1_000,
                idle_timeout_seconds: 0,
                allowed_origins: vec!["https://example.com".into(), "http://localhost:8787".into()],
                auth_secret: Some(Secret(secret.into_bytes())),
            })
        );
    }

    #[test]
    fn refuses_bad_values_by_name() {
        let table: &[(&str, &str)] = &[
            ("MAX_MESSAGE_BYTES", ""),
            ("MAX_MESSAGE_BYTES", "0"),
            ("MAX_MESSAGE_BYTES", "64k"),
            ("MAX_MESSAGE_BYTES", "-1"),
            ("MAX_MESSAGE_BYTES", "33554433"),
            ("MAX_MESSAGE_BYTES", "2097153"),
            ("MAX_CONNECTIONS_PER_ROOM", "1000001"),
            ("MAX_CONNECTIONS_PER_OBJECT", "32769"),
            ("MAX_CONNECTIONS_PER_OBJECT", "0"),
            ("MAX_CONNECTIONS_PER_ROOM", "1.5"),
            ("MAX_CONNECTIONS_PER_SUBJECT", "0"),
            ("MAX_CONNECTIONS_PER_SUBJECT", "32769"),
            ("RATE_LIMIT_PER_SECOND", "0"),
            ("RATE_LIMIT_PER_SECOND", "NaN"),
            ("RATE_LIMIT_PER_SECOND", "inf"),
            ("RATE_LIMIT_BURST", "0"),
            ("MAX_TEXT_CHARS", "many"),
            ("PRESENCE_LIMIT", "0"),
            ("PRESENCE_LIMIT", "1001"),
            ("PRESENCE_LIMIT", "-5"),
            ("PRESENCE_LIMIT", "ten"),
            ("HISTORY_LIMIT", "1001"),
            ("HISTORY_LIMIT", "513"),
            ("HISTORY_LIMIT", "-1"),
            ("HISTORY_LIMIT", ""),
            ("HISTORY_ON_JOIN", "1001"),
            ("HISTORY_ON_JOIN", "fifty"),
            ("IDLE_TIMEOUT_SECONDS", "-1"),
            ("IDLE_TIMEOUT_SECONDS", "86401"),
            ("IDLE_TIMEOUT_SECONDS", "2m"),
            ("IDLE_TIMEOUT_SECONDS", "1.5"),
            ("ALLOWED_ORIGINS", "example.com"),
            ("ALLOWED_ORIGINS", "https://a.com/path"),
            ("AUTH_SECRET", "short"),
            ("AUTH_SECRET", ""),
        ];
        for &(name, value) in table {
            let error = config(&[(name, value)]).expect_err(value);
            assert_eq!(error.name, name, "{value:?}");
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn a_room_above_the_object_cap_needs_history_and_a_presence_limit_one_object_holds() {
        let spanning = |more: &[(&'static str, &'static str)]| {
            // The first value of a name wins: `more` comes first.
            let mut vars = more.to_vec();
            vars.extend([
                ("MAX_CONNECTIONS_PER_ROOM", "10"),
                ("MAX_CONNECTIONS_PER_OBJECT", "3"),
                ("PRESENCE_LIMIT", "3"),
            ]);
            config(&vars)
        };
        let ok = spanning(&[]).expect("valid");
        assert!(ok.spans());
        assert_eq!(ok.object_cap(), 3);
        assert!(!Config::default().spans());
        assert_eq!(Config::default().object_cap(), 1_000);
        assert_eq!(
            spanning(&[("PRESENCE_LIMIT", "4")]).map_err(|e| e.to_string()),
            Err(
                "configuration variable PRESENCE_LIMIT = 4 is invalid: must be at most \
                 MAX_CONNECTIONS_PER_OBJECT (3) when MAX_CONNECTIONS_PER_ROOM (10) is above it"
                    .into()
            )
        );
        let error = spanning(&[("HISTORY_LIMIT", "0")]).expect_err("no history");
        assert_eq!(error.name, "HISTORY_LIMIT");
        // The default presence limit (100) is above an object cap of 3.
        let error = config(&[
            ("MAX_CONNECTIONS_PER_ROOM", "10"),
            ("MAX_CONNECTIONS_PER_OBJECT", "3"),
        ])
        .expect_err("default presence limit");
        assert_eq!(error.value, "100 (the default)");
        // A million members, on objects of 32,768.
        let large = config(&[
            ("MAX_CONNECTIONS_PER_ROOM", "1000000"),
            ("MAX_CONNECTIONS_PER_OBJECT", "32768"),
        ])
        .expect("valid");
        assert!(large.spans());
    }

    #[test]
    fn max_message_bytes_is_1_to_2_mib() {
        let max = |value| config(&[("MAX_MESSAGE_BYTES", value)]).map(|c| c.max_message_bytes);
        assert_eq!(max("2097152"), Ok(2 << 20));
        assert_eq!(
            max("33554432").map_err(|e| e.rule),
            Err("must be a whole number from 1 to 2097152".into())
        );
    }

    #[test]
    fn a_history_frame_fits_in_one_websocket_message() {
        let limit = |vars: &[(&str, &str)]| config(vars).map(|c| c.history_limit);
        assert_eq!(limit(&[]), Ok(100));
        assert_eq!(limit(&[("HISTORY_LIMIT", "512")]), Ok(512));
        // 2 MiB messages: 16 fit in 32 MiB, the default too.
        let large = ("MAX_MESSAGE_BYTES", "2097152");
        assert_eq!(limit(&[large]), Ok(16));
        assert_eq!(limit(&[large, ("HISTORY_LIMIT", "16")]), Ok(16));
        assert_eq!(
            limit(&[large, ("HISTORY_LIMIT", "17")]).map_err(|e| e.to_string()),
            Err("configuration variable HISTORY_LIMIT = 17 is invalid: \
                 must be a whole number from 0 to 16"
                .into())
        );
    }

    #[test]
    fn presence_limit_is_1_to_1000() {
        let limit = |value| config(&[("PRESENCE_LIMIT", value)]).map(|c| c.presence_limit);
        assert_eq!(config(&[]).map(|c| c.presence_limit), Ok(100));
        assert_eq!(limit("1"), Ok(1));
        assert_eq!(limit(" 1000 "), Ok(1_000));
        assert_eq!(
            limit("1001").map_err(|e| e.to_string()),
            Err("configuration variable PRESENCE_LIMIT = 1001 is invalid: \
                 must be a whole number from 1 to 1000"
                .into())
        );
    }

    #[test]
    fn idle_timeout_is_0_to_a_day() {
        let idle = |vars: &[(&str, &str)]| config(vars).map(|c| c.idle_timeout_seconds);
        assert_eq!(idle(&[]), Ok(120));
        assert_eq!(idle(&[("IDLE_TIMEOUT_SECONDS", "30")]), Ok(30));
        assert_eq!(idle(&[("IDLE_TIMEOUT_SECONDS", " 0 ")]), Ok(0));
        assert_eq!(idle(&[("IDLE_TIMEOUT_SECONDS", "86400")]), Ok(86_400));
        assert_eq!(
            idle(&[("IDLE_TIMEOUT_SECONDS", "")]).map_err(|e| e.to_string()),
            Err(
                "configuration variable IDLE_TIMEOUT_SECONDS =  is invalid: \
                 must be a whole number from 0 to 86400"
                    .into()
            )
        );
    }

    #[test]
    fn never_shows_the_secret() {
        let error = config(&[("AUTH_SECRET", "hunter2")]).expect_err("short");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let secret = "x".repeat(40);
        let config = config(&[("AUTH_SECRET", &secret)]).expect("valid");
        assert!(!format!("{config:?}").contains(&secret));
    }

    #[test]
    fn empty_origin_list_allows_any() {
        assert_eq!(
            config(&[("ALLOWED_ORIGINS", " , ")]).map(|c| c.allowed_origins),
            Ok(vec![])
        );
    }
}
