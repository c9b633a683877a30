//! Signed tokens for `AUTH_SECRET`: who may open a socket, under which name,
//! to which room, until when.
//!
//! A token is `base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part))`,
//! base64url without padding. [`mint`] and [`verify`] are the only code that
//! reads or writes one: the server verifies with it and `npm run token`
//! (`rust/bin/token.rs`) mints with it.

use serde::Serialize;

use crate::error::TokenError;
use crate::protocol;
use crate::records::{self, Record};
use crate::sha256::{hmac_sha256, same_tag};
use crate::text::{base64url, from_base64url};

/// The longest token read, in bytes; anything longer is malformed.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The subject: the user's id in the issuer's system.
    pub sub: String,
    /// The display name; the connection cannot change it.
    pub name: String,
    /// The only room the token opens; absent, any room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Expiry, Unix seconds; the token is refused from that second on.
    pub exp: u64,
}

impl Claims {
    /// The claims a token's payload holds (see [`crate::records`]).
    pub fn read(record: Record<'_>) -> Option<Claims> {
        Some(Claims {
            sub: record.str("sub")?.to_owned(),
            name: record.str("name")?.to_owned(),
            room: record.optional("room", |value| value.as_str().map(str::to_owned))?,
            exp: record.u64("exp")?,
        })
    }
}

/// Signs `claims` with `secret`.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    let payload = base64url(&serde_json::to_vec(claims).unwrap_or_default());
    let signature = base64url(&hmac_sha256(secret, payload.as_bytes()));
    format!("{payload}.{signature}")
}

/// Checks `token` for `room` (`None`: the seed endpoint, which only tokens
/// without a room open) at `now` (Unix seconds); the claims if it passes.
pub fn verify(
    secret: &[u8],
    token: Option<&str>,
    room: Option<&str>,
    now: u64,
) -> Result<Claims, TokenError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("longer than 4096 bytes"));
    }
    let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed(
        "expected two parts separated by \".\"",
    ))?;
    let signature = decode(signature).ok_or(TokenError::Malformed("signature is not base64url"))?;
    if !same_tag(&hmac_sha256(secret, payload.as_bytes()), &signature) {
        return Err(TokenError::BadSignature);
    }
    let json = decode(payload).ok_or(TokenError::Malformed("claims are not base64url"))?;
    let claims = records::parse(&json, Claims::read).ok_or(TokenError::Malformed(
        "claims must be JSON {sub, name, room?, exp}",
    ))?;
    if protocol::name(&claims.name).as_deref() != Ok(claims.name.as_str()) {
        return Err(TokenError::Malformed(
            "name must be 1-32 characters, trimmed, without control characters",
        ));
    }
    if now >= claims.exp {
        return Err(TokenError::Expired { exp: claims.exp });
    }
    match (&claims.room, room) {
        (None, _) => Ok(claims),
        (Some(allowed), Some(room)) if allowed == room => Ok(claims),
        _ => Err(TokenError::WrongRoom),
    }
}

/// Canonical base64url without padding, the only spelling [`mint`] writes:
/// no `=`, and no bits set past the last byte, so one token has one spelling.
fn decode(text: &str) -> Option<Vec<u8>> {
    from_base64url(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    /// The RustCrypto HMAC, an independent reference for the format.
    type HmacSha256 = hmac::Hmac<sha2::Sha256>;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(room: Option<&str>, exp: u64) -> Claims {
        Claims {
            sub: "u1".into(),
            name: "Ada".into(),
            room: room.map(Into::into),
            exp,
        }
    }

    #[test]
    fn a_minted_token_verifies() {
        let token = mint(SECRET, &claims(Some("lobby"), 100));
        assert_eq!(
            verify(SECRET, Some(&token), Some("lobby"), 99),
            Ok(claims(Some("lobby"), 100))
        );
        let any = mint(SECRET, &claims(None, 100));
        assert!(verify(SECRET, Some(&any), Some("other"), 0).is_ok());
        assert!(verify(SECRET, Some(&any), None, 0).is_ok());
    }

    #[test]
    fn matches_the_documented_format() {
        let token = mint(SECRET, &claims(None, 100));
        let (payload, signature) = token.split_once('.').expect("two parts");
        let json = decode(payload).expect("base64url");
        assert_eq!(json, br#"{"sub":"u1","name":"Ada","exp":100}"#);
        let mut mac = HmacSha256::new_from_slice(SECRET).expect("key");
        mac.update(payload.as_bytes());
        assert_eq!(
            decode(signature).expect("base64url"),
            mac.finalize().into_bytes().to_vec()
        );
    }

    #[test]
    fn refusals_and_their_reasons() {
        let good = mint(SECRET, &claims(Some("lobby"), 100));
        let other_secret = mint(b"another secret of 32 bytes or more!", &claims(None, 100));
        let (payload, signature) = good.split_once('.').expect("two parts");
        let forged_payload = base64url(br#"{"sub":"u1","name":"Ada","exp":999}"#);
        let forged = format!("{forged_payload}.{signature}");
        let padded = format!("{payload}.{signature}=");
        let padded_twice = format!("{payload}.{signature}==");
        // The signature is 32 bytes, 43 characters: the last one carries 2
        // spare bits, which canonical base64url leaves at 0.
        let last = signature.chars().last().expect("a signature");
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.find(last).expect("base64url");
        // The lowest bit is a spare one: the same 32 bytes, another spelling.
        let spare = alphabet.as_bytes()[index ^ 1] as char;
        let other_spelling = format!("{payload}.{}{spare}", &signature[..signature.len() - 1]);
        let bad_name = mint(
            SECRET,
            &Claims {
                name: " x".into(),
                ..claims(None, 100)
            },
        );
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        /// token, room, now, the reason it is refused (or `Ok`).
        type Row<'a> = (Option<&'a str>, Option<&'a str>, u64, Result<(), &'a str>);
        let table: &[Row] = &[
            (Some(&good), Some("lobby"), 99, Ok(())),
            (Some(&padded), Some("lobby"), 99, Err("malformed")),
            (Some(&padded_twice), Some("lobby"), 99, Err("malformed")),
            (Some(&other_spelling), Some("lobby"), 99, Err("malformed")),
            (None, Some("lobby"), 0, Err("missing")),
            (Some(""), Some("lobby"), 0, Err("missing")),
            (Some("abc"), Some("lobby"), 0, Err("malformed")),
            (Some("a.b.c"), Some("lobby"), 0, Err("malformed")),
            (Some("!!.!!"), Some("lobby"), 0, Err("malformed")),
            (Some(&long), Some("lobby"), 0, Err("malformed")),
            (Some(&bad_name), Some("lobby"), 0, Err("malformed")),
            (Some(&other_secret), Some("lobby"), 0, Err("bad_signature")),
            (Some(&forged), Some("lobby"), 0, Err("bad_signature")),
            (Some(&good), Some("lobby"), 100, Err("expired")),
            (Some(&good), Some("lobby"), u64::MAX, Err("expired")),
            (Some(&good), Some("lobby2"), 0, Err("wrong_room")),
            (Some(&good), None, 0, Err("wrong_room")),
        ];
        for (token, room, now, want) in table {
            let got = verify(SECRET, *token, *room, *now)
                .map(|_| ())
                .map_err(|e| e.reason());
            assert_eq!(got, *want, "{token:?} {room:?} {now}");
        }
    }
}
