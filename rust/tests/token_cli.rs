//! `npm run token` (rust/bin/token.rs): the tokens it prints are the ones
//! the server accepts, and it refuses what the server would refuse.

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use websocket_hibernation_server::token::{self, Claims};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn token_cli(secret: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_token"));
    command.args(args).env_remove("AUTH_SECRET");
    if let Some(secret) = secret {
        command.env("AUTH_SECRET", secret);
    }
    command.output().expect("the token binary runs")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn mints_a_token_the_server_verifies() {
    let before = now();
    let output = token_cli(
        Some(SECRET),
        &[
            "--sub", "u1", "--name", " Ada ", "--room", "lobby", "--ttl", "60",
        ],
    );
    let after = now();
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output);
    let claims = token::verify(SECRET.as_bytes(), Some(&token), Some("lobby"), after)
        .expect("the server accepts the token");
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.name.as_str(),
            claims.room.as_deref()
        ),
        ("u1", "Ada", Some("lobby"))
    );
    assert!(
        (before + 60..=after + 60).contains(&claims.exp),
        "{claims:?}"
    );
    assert!(stderr(&output).contains(&format!("expires at {}", claims.exp)));
    // Valid for its room only, and only until it expires.
    let refused = |room, now| {
        token::verify(SECRET.as_bytes(), Some(&token), room, now).map_err(|e| e.reason())
    };
    assert_eq!(refused(Some("other"), after), Err("wrong_room"));
    assert_eq!(refused(Some("lobby"), claims.exp), Err("expired"));
}

#[test]
fn defaults_to_any_room_for_an_hour() {
    let output = token_cli(Some(SECRET), &["--sub=u2", "--name=Bob"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let claims = token::verify(SECRET.as_bytes(), Some(&stdout(&output)), None, now())
        .expect("valid on /websocket");
    assert_eq!(claims.room, None);
    assert!(claims.exp.abs_diff(now() + 3600) <= 5, "{claims:?}");
    assert!(stderr(&output).contains("any room"));
}

#[test]
fn reads_the_secret_from_a_file() {
    let path = std::env::temp_dir().join(format!("token-cli-secret-{}", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).expect("write secret");
    let output = token_cli(
        Some("another secret that is long enough!!"),
        &[
            "--sub",
            "u3",
            "--name",
            "Cy",
            "--secret-file",
            &path.to_string_lossy(),
        ],
    );
    let _ = std::fs::remove_file(&path);
    assert!(output.status.success(), "{}", stderr(&output));
    let claims: Claims = token::verify(SECRET.as_bytes(), Some(&stdout(&output)), None, now())
        .expect("signed with the file's secret, without its newline");
    assert_eq!(claims.sub, "u3");
}

#[test]
fn refuses_a_short_secret_like_the_server() {
    let output = token_cli(Some("too-short-secret"), &["--sub", "u1", "--name", "Ada"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert!(
        message.contains("AUTH_SECRET") && message.contains("at least 32 bytes"),
        "{message}"
    );
    assert!(
        !message.contains("too-short-secret"),
        "shows the secret: {message}"
    );
}

#[test]
fn refuses_bad_arguments_with_exit_2() {
    let long_sub = "s".repeat(4000);
    let table: &[(Option<&str>, &[&str], &str)] = &[
        (None, &["--sub", "u1", "--name", "Ada"], "AUTH_SECRET"),
        (Some(SECRET), &["--name", "Ada"], "--sub is required"),
        (Some(SECRET), &["--sub", "u1"], "--name is required"),
        (
            Some(SECRET),
            &["--sub", "u1", "--name"],
            "--name needs a value",
        ),
        (
            Some(SECRET),
            &["--sub", "u1", "--name", "Ada", "--bogus", "1"],
            "unknown argument",
        ),
        (
            Some(SECRET),
            &["--sub", "u1", "--name", "Ada", "--ttl", "0"],
            "--ttl",
        ),
        (
            Some(SECRET),
            &["--sub", "u1", "--name", "Ada", "--ttl", "1h"],
            "--ttl",
        ),
        (
            Some(SECRET),
            &["--sub", "u1", "--name", "a\u{7}b"],
            "control characters",
        ),
        (
            Some(SECRET),
            &["--sub", "u1", "--name", &"n".repeat(33)],
            "--name",
        ),
        (
            Some(SECRET),
            &["--sub", "u1", "--name", "Ada", "--room", "a/b"],
            "--room",
        ),
        (
            Some(SECRET),
            &["--sub", &long_sub, "--name", "Ada"],
            "would refuse",
        ),
    ];
    for (secret, args, says) in table {
        let output = token_cli(*secret, args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert_eq!(stdout(&output), "", "{args:?}");
        assert!(message.contains(says), "{args:?}: {message}");
    }
    let usage = stderr(&token_cli(Some(SECRET), &["--bogus"]));
    assert!(usage.contains("usage: AUTH_SECRET="), "{usage}");
}
