//! Everything the server refuses, with what the client is told:
//! [`Error`] for a refused frame (an error frame, the socket stays open),
//! [`CloseReason`] for a socket the server closes (a close code and reason),
//! [`HttpError`] for a refused request (a status and a JSON body), and
//! [`TokenError`] for why a token did not pass.

use std::fmt;

use serde::{Deserialize, Serialize};
use tsify::Tsify;

use crate::close::CloseCode;
use crate::limit::Rate;
use crate::text::{display, Quoted};

/// The machine-readable code of an error frame (`{"type":"error","code":…}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not a JSON object.
    BadJson,
    /// `type` is missing, not a string, or not a frame type the server knows.
    UnknownType,
    /// A field is missing, has the wrong JSON type, or breaks a rule (length, characters).
    InvalidField,
    /// A whisper names an id that is not in the room (or the sender itself).
    UnknownRecipient,
    /// A `who` page was asked `after` something not written as a cursor
    /// (`{joined_at}.{id}`, what a roster's `next` holds): start again
    /// without `after`.
    UnknownCursor,
    /// The frame is not allowed for this connection.
    Forbidden,
    /// The connection sent faster than its rate limit.
    RateLimited,
    /// A binary frame on a room, which speaks JSON text only.
    UnsupportedData,
    /// The server failed to handle the frame; the next frame is served normally.
    Internal,
}

/// Why a frame was refused, with the data to explain it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not JSON at all.
    BadJson { detail: String },
    /// JSON, but not an object.
    NotObject,
    /// No `type`, or `type` is not a string.
    MissingType,
    /// A `type` the protocol does not have.
    UnknownType { kind: String },
    /// A field is missing or of the wrong JSON type.
    InvalidField { field: &'static str, detail: String },
    /// A string field is longer than allowed (in characters).
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// A string field is empty after trimming.
    Empty { field: &'static str },
    /// A name holds a control character.
    ControlCharacter { field: &'static str },
    /// A name holds a character a reader cannot see, or one that reorders
    /// the text around it (see [`crate::invisible`]).
    InvisibleCharacter { field: &'static str, ch: char },
    /// A whisper to an id that is not in the room.
    UnknownRecipient { to: String },
    /// A whisper to oneself.
    WhisperToSelf,
    /// A `who` whose `after` is not written as a cursor. (A well-formed
    /// one is a place in the join order, whoever wrote it.)
    UnknownCursor { after: String },
    /// The connection may not do this (e.g. rename when the name comes from a token).
    Forbidden { why: &'static str },
    /// A binary frame on a JSON room.
    Binary,
    /// The connection sent faster than its rate limit; the frame was dropped.
    RateLimited { per_second: Rate, burst: u32 },
    /// The server failed while handling the frame (a panic in the core, an
    /// exception in the shim); the frame was dropped.
    Internal,
}

/// `Result` with the protocol's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The code the client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadJson { .. } | Error::NotObject => ErrorCode::BadJson,
            Error::MissingType | Error::UnknownType { .. } => ErrorCode::UnknownType,
            Error::InvalidField { .. }
            | Error::TooLong { .. }
            | Error::Empty { .. }
            | Error::ControlCharacter { .. }
            | Error::InvisibleCharacter { .. } => ErrorCode::InvalidField,
            Error::UnknownRecipient { .. } | Error::WhisperToSelf => ErrorCode::UnknownRecipient,
            Error::UnknownCursor { .. } => ErrorCode::UnknownCursor,
            Error::Forbidden { .. } => ErrorCode::Forbidden,
            Error::Binary => ErrorCode::UnsupportedData,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Internal => ErrorCode::Internal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadJson { detail } => write!(f, "frame is not valid JSON: {detail}"),
            Error::NotObject => f.write_str("frame must be a JSON object"),
            Error::MissingType => f.write_str("frame needs a string field \"type\""),
            Error::UnknownType { kind } => write!(f, "unknown frame type {}", Quoted(kind)),
            Error::InvalidField { field, detail } => write!(f, "field \"{field}\": {detail}"),
            Error::TooLong { field, len, max } => {
                write!(
                    f,
                    "field \"{field}\" is {len} characters, at most {max} allowed"
                )
            }
            Error::Empty { field } => write!(f, "field \"{field}\" must not be empty"),
            Error::ControlCharacter { field } => {
                write!(f, "field \"{field}\" must not contain control characters")
            }
            Error::InvisibleCharacter { field, ch } => write!(
                f,
                "field \"{field}\" must not contain U+{:04X}, a character that is invisible or reorders text",
                u32::from(*ch)
            ),
            Error::UnknownRecipient { to } => {
                write!(f, "no connection with id {} in this room", Quoted(to))
            }
            Error::WhisperToSelf => f.write_str("cannot whisper to yourself"),
            Error::UnknownCursor { after } => write!(
                f,
                "{} is not a cursor from a roster's \"next\"; \
                 ask who again without \"after\"",
                Quoted(after)
            ),
            Error::Forbidden { why } => f.write_str(why),
            Error::Binary => f.write_str("binary frames are not supported: send JSON text"),
            Error::RateLimited { per_second, burst } => write!(
                f,
                "too many frames: at most {per_second} per second, bursts of {burst}; \
                 this frame was dropped"
            ),
            Error::Internal => {
                f.write_str("the server failed to handle this frame and dropped it; send the next")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Why the Worker or a room refuses an HTTP request, answered as
/// `{"error":{"code":…,"message":…}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The room name in the path is not valid.
    BadRoom { room: String, why: &'static str },
    /// A room endpoint that must be a WebSocket upgrade was not one.
    UpgradeRequired,
    /// Room endpoints take GET only.
    MethodNotAllowed,
    /// The `?name=` of an upgrade is not a valid display name.
    BadName(Error),
    /// The `?since=&epoch=` of an upgrade is malformed.
    BadResume,
    /// The room holds as many connections as it may.
    RoomFull { max: u32 },
    /// The room holds as many connections with this token subject as it
    /// may (`MAX_CONNECTIONS_PER_SUBJECT`).
    TooManyConnections { max: u32 },
    /// This client address opened more upgrades than the Worker's
    /// Rate Limiting binding allows (`UPGRADE_LIMITER` in wrangler.jsonc).
    TooManyRequests,
    /// The upgrade's `Origin` is not in `ALLOWED_ORIGINS`.
    ForbiddenOrigin { origin: String },
    /// `AUTH_SECRET` is set and the upgrade's token does not pass.
    Unauthorized(TokenError),
    /// A configuration variable is invalid: every request gets this until
    /// it is fixed (the log has the details).
    BadConfig { name: &'static str },
    /// The server failed while handling the request.
    Internal,
}

impl HttpError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRoom { .. } | HttpError::BadName(_) | HttpError::BadResume => 400,
            HttpError::UpgradeRequired => 426,
            HttpError::MethodNotAllowed => 405,
            HttpError::RoomFull { .. } => 503,
            HttpError::TooManyConnections { .. } | HttpError::TooManyRequests => 429,
            HttpError::ForbiddenOrigin { .. } => 403,
            HttpError::Unauthorized(_) => 401,
            HttpError::BadConfig { .. } | HttpError::Internal => 500,
        }
    }

    /// The reason phrase that goes with [`status`](Self::status).
    pub fn status_text(&self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            405 => "Method Not Allowed",
            426 => "Upgrade Required",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            _ => "Service Unavailable",
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::BadRoom { .. } => "bad_room",
            HttpError::UpgradeRequired => "upgrade_required",
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::BadName(_) | HttpError::BadResume => "invalid_field",
            HttpError::RoomFull { .. } => "room_full",
            HttpError::TooManyConnections { .. } => "too_many_connections",
            HttpError::TooManyRequests => "too_many_requests",
            HttpError::ForbiddenOrigin { .. } => "forbidden_origin",
            HttpError::Unauthorized(_) => "unauthorized",
            HttpError::BadConfig { .. } => "bad_config",
            HttpError::Internal => "internal",
        }
    }

    /// Headers the status requires (RFC 9110 §15.5.6, §15.5.22).
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            HttpError::UpgradeRequired => &[("Upgrade", "websocket")],
            HttpError::MethodNotAllowed => &[("Allow", "GET")],
            HttpError::Unauthorized(_) => &[("WWW-Authenticate", "Bearer realm=\"websocket\"")],
            _ => &[],
        }
    }

    /// The JSON body; an `unauthorized` one also says which check failed.
    pub fn to_json(&self) -> String {
        /// `{"error":{"code","message","reason"?}}`, built without
        /// `serde_json::Value` (whose serializer would add float formatting).
        #[derive(Serialize)]
        struct Body<'a> {
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            code: &'static str,
            message: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'a str>,
        }
        let reason = match self {
            HttpError::Unauthorized(why) => Some(why.reason()),
            _ => None,
        };
        let body = Body {
            error: Detail {
                code: self.code(),
                message: display(self),
                reason,
            },
        };
        // Serialising these types cannot fail: string keys, no floats.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRoom { room, why } => write!(f, "room name {} {why}", Quoted(room)),
            HttpError::UpgradeRequired => f.write_str("expected Upgrade: websocket"),
            HttpError::MethodNotAllowed => f.write_str("room endpoints accept GET only"),
            HttpError::BadName(error) => write!(f, "query parameter \"name\": {error}"),
            HttpError::BadResume => {
                f.write_str("?since= (a seq) and ?epoch= (a room's epoch) go together")
            }
            HttpError::RoomFull { max } => {
                write!(f, "the room is full ({max} connections); try again later")
            }
            HttpError::TooManyConnections { max } => write!(
                f,
                "your token already has {max} connections to this room; close one first"
            ),
            HttpError::TooManyRequests => {
                f.write_str("too many requests from your address; try again in a few seconds")
            }
            HttpError::ForbiddenOrigin { origin } => {
                write!(
                    f,
                    "origin {} may not open sockets on this server",
                    Quoted(origin)
                )
            }
            HttpError::Unauthorized(why) => f.write_str(&why.message()),
            HttpError::BadConfig { name } => write!(
                f,
                "the server's configuration variable {name} is invalid; its log says why"
            ),
            HttpError::Internal => f.write_str("the server failed to handle the request"),
        }
    }
}

/// Why a token was refused; [`reason`](Self::reason) is what the client sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// No `?token=`, or an empty one.
    Missing,
    /// Not two base64url parts, or claims that are not valid JSON claims.
    Malformed(&'static str),
    /// The signature does not match: another secret, or altered claims.
    BadSignature,
    /// `exp` has passed.
    Expired { exp: u64 },
    /// The token names another room, or the endpoint is not a room.
    WrongRoom,
}

impl TokenError {
    /// The machine-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing",
            TokenError::Malformed(_) => "malformed",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired { .. } => "expired",
            TokenError::WrongRoom => "wrong_room",
        }
    }

    /// The human explanation.
    pub fn message(&self) -> String {
        match self {
            TokenError::Missing => "this server needs ?token= on every upgrade".into(),
            TokenError::Malformed(why) => format!("token is malformed: {why}"),
            TokenError::BadSignature => "token signature does not match".into(),
            TokenError::Expired { exp } => format!("token expired at {exp} (Unix seconds)"),
            TokenError::WrongRoom => "token is not valid for this room".into(),
        }
    }
}

/// The words a close for an expired token starts with. A macro so that the
/// TypeScript type `TokenExpiredReason` (`rust/src/wasm.rs`) is written from
/// the same literal, and `RoomClient`'s test of a close reason
/// (`js/client.ts`) is checked against it by `tsc`.
macro_rules! token_expired_reason {
    () => {
        "token expired"
    };
}
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_imports))]
pub(crate) use token_expired_reason;

/// The start of the reason of a close for an expired token: clients that
/// see code 1008 with a reason starting with it fetch a fresh token.
pub const TOKEN_EXPIRED: &str = token_expired_reason!();

/// Why the server closes a socket: one close code and one reason each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A frame over `MAX_MESSAGE_BYTES`: 1009, "message too big" (RFC 6455
    /// §7.4.1). `bytes` is its size, or the least it can be when the text
    /// was not read (`exact` is false: see [`crate::limit::text_by_length`]).
    TooBig { bytes: usize, max: u32, exact: bool },
    /// A client that kept sending after `rate_limited` errors: 1008, policy.
    RateLimit,
    /// A frame at or after the expiry (`exp`, Unix seconds) of the token
    /// the socket was opened with: 1008, policy, with a reason that starts
    /// with [`TOKEN_EXPIRED`].
    TokenExpired { exp: u64 },
    /// A binary frame on `/websocket`, which speaks text only: 1003
    /// (RFC 6455 §7.4.1: "an endpoint that understands only text data MAY
    /// send this if it receives a binary message").
    BinaryOnEcho,
    /// The object's configuration is invalid: 1011 (the log says why).
    Misconfigured,
    /// A room socket the room does not know (its attachment was lost or
    /// unreadable): 1011, and the client reconnects.
    UnknownConnection,
    /// No frame and no keepalive `ping` for longer than
    /// `IDLE_TIMEOUT_SECONDS`: 1001, "going away", as a server says when it
    /// drops an idle connection (RFC 6455 §7.4.1). A client that was alive
    /// after all reconnects: `RoomClient` retries on 1001.
    Idle { seconds: u32 },
}

impl CloseReason {
    /// The close code the client sees.
    pub fn code(&self) -> CloseCode {
        match self {
            CloseReason::TooBig { .. } => CloseCode::TOO_BIG,
            CloseReason::RateLimit | CloseReason::TokenExpired { .. } => CloseCode::POLICY,
            CloseReason::BinaryOnEcho => CloseCode::UNSUPPORTED_DATA,
            CloseReason::Misconfigured | CloseReason::UnknownConnection => CloseCode::INTERNAL,
            CloseReason::Idle { .. } => CloseCode::GOING_AWAY,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::TooBig {
                bytes,
                max,
                exact: true,
            } => write!(f, "frame of {bytes} bytes is over the limit of {max}"),
            CloseReason::TooBig { bytes, max, .. } => {
                write!(
                    f,
                    "frame of at least {bytes} bytes is over the limit of {max}"
                )
            }
            CloseReason::RateLimit => {
                f.write_str("rate limit exceeded: kept sending after rate_limited errors")
            }
            CloseReason::TokenExpired { exp } => write!(
                f,
                "{TOKEN_EXPIRED} at {exp} (Unix seconds): reconnect with a fresh token"
            ),
            CloseReason::BinaryOnEcho => {
                f.write_str("binary frames are not supported on /websocket")
            }
            CloseReason::Misconfigured => {
                f.write_str("server configuration is invalid; see the server log")
            }
            CloseReason::UnknownConnection => {
                f.write_str("connection unknown to the room; reconnect")
            }
            CloseReason::Idle { seconds } => {
                write!(f, "idle: no frame and no ping for {seconds} s; reconnect")
            }
        }
    }
}
