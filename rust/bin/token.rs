//! `npm run token -- --sub ID --name NAME [--room ROOM] [--ttl SECONDS]`:
//! mints a token for a server that has `AUTH_SECRET` set.
//!
//! The secret comes from the environment variable `AUTH_SECRET` (or from
//! `--secret-file`), and every rule is the server's own: the secret's length
//! is checked by `Config::from_vars`, the name by `protocol::name`, the room
//! by `route::check_room`, and the token is verified with `token::verify`
//! before it is printed, so the CLI never prints a token the server refuses.
//!
//! The token goes to stdout (for `$(npm run --silent token -- …)`), a summary
//! to stderr. Bad arguments or values exit with 2 and say why.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use websocket_hibernation_server::config::Config;
use websocket_hibernation_server::http::route;
use websocket_hibernation_server::protocol;
use websocket_hibernation_server::token::{self, Claims};

const USAGE: &str = "\
usage: AUTH_SECRET=<secret> npm run token -- --sub ID --name NAME [--room ROOM] [--ttl SECONDS]

  --sub ID            the user's id in your system (the token's subject)
  --name NAME         the display name the connection gets; it cannot change it
  --room ROOM         the only room the token opens (default: any room and /websocket)
  --ttl SECONDS       how long the token is valid (default: 3600)
  --secret-file PATH  read the secret from PATH instead of AUTH_SECRET
                      (one trailing newline is ignored)

Prints the token on stdout and when it expires on stderr.";

/// Default lifetime of a token, in seconds.
const DEFAULT_TTL: u64 = 3600;

/// What the command line asks for.
#[derive(Debug, Default)]
struct Args {
    sub: Option<String>,
    name: Option<String>,
    room: Option<String>,
    ttl: Option<String>,
    secret_file: Option<String>,
}

/// Why the CLI refuses to mint.
enum Failure {
    /// The command line is wrong: the message and the usage.
    Usage(String),
    /// An argument or the secret breaks a rule: the message alone.
    Invalid(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok((token, summary)) => {
            println!("{token}");
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            eprintln!("token: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Invalid(message)) => {
            eprintln!("token: {message}");
            ExitCode::from(2)
        }
    }
}

/// The token and the summary line, or why not.
fn run(raw: &[String]) -> Result<(String, String), Failure> {
    let args = parse(raw).map_err(Failure::Usage)?;
    let sub = args
        .sub
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failure::Usage("--sub is required and must not be empty".into()))?;
    let raw_name = args
        .name
        .ok_or_else(|| Failure::Usage("--name is required".into()))?;
    let name = protocol::name(&raw_name).map_err(|e| Failure::Invalid(format!("--name: {e}")))?;
    if let Some(room) = &args.room {
        route::check_room(room).map_err(|e| Failure::Invalid(format!("--room: {e}")))?;
    }
    let ttl = match &args.ttl {
        None => DEFAULT_TTL,
        Some(ttl) => match ttl.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(Failure::Usage(format!(
                    "--ttl must be a whole number of seconds above 0, not {ttl:?}"
                )))
            }
        },
    };
    let secret = read_secret(args.secret_file.as_deref())?;
    // The server's own rule for AUTH_SECRET, and its message (which never
    // shows the secret).
    let config = Config::from_vars(|var| (var == "AUTH_SECRET").then(|| secret.clone()))
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    let Some(secret) = config.auth_secret else {
        return Err(Failure::Invalid("AUTH_SECRET is not set".into()));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = now
        .checked_add(ttl)
        .ok_or_else(|| Failure::Usage(format!("--ttl {ttl} is too large")))?;
    let claims = Claims {
        sub,
        name,
        room: args.room,
        exp,
    };
    let token = token::mint(secret.bytes(), &claims);
    token::verify(secret.bytes(), Some(&token), claims.room.as_deref(), now).map_err(|e| {
        Failure::Invalid(format!(
            "the server would refuse this token: {}",
            e.message()
        ))
    })?;
    let summary = format!(
        "token for sub {:?}, name {:?}, {}; expires at {exp} ({})",
        claims.sub,
        claims.name,
        match &claims.room {
            Some(room) => format!("room {room:?}"),
            None => "any room".into(),
        },
        iso_utc(exp)
    );
    Ok((token, summary))
}

/// `--flag value` or `--flag=value`, each flag at most once.
fn parse(raw: &[String]) -> Result<Args, String> {
    let mut args = Args::default();
    let mut rest = raw.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "--sub" => &mut args.sub,
            "--name" => &mut args.name,
            "--room" => &mut args.room,
            "--ttl" => &mut args.ttl,
            "--secret-file" => &mut args.secret_file,
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        if slot.is_some() {
            return Err(format!("{flag} given twice"));
        }
        let value = match inline {
            Some(value) => value,
            None => rest
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))?,
        };
        *slot = Some(value);
    }
    Ok(args)
}

/// The secret from `path`, else from `AUTH_SECRET`.
fn read_secret(path: Option<&str>) -> Result<String, Failure> {
    let Some(path) = path else {
        return std::env::var("AUTH_SECRET").map_err(|_| {
            Failure::Usage("set AUTH_SECRET (the server's secret) or give --secret-file".into())
        });
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Invalid(format!("--secret-file {path:?}: {e}")))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn iso_utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i128 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_764_338_399), "2025-11-28T13:59:59Z");
        assert_eq!(iso_utc(4_102_444_800), "2100-01-01T00:00:00Z");
        // u64::MAX seconds is far beyond year 9999; it must still print.
        assert!(iso_utc(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn parses_flags() {
        let raw: Vec<String> = ["--sub", "u1", "--name=Ada Lovelace", "--room", "lobby"]
            .map(String::from)
            .into();
        let args = parse(&raw).expect("valid");
        assert_eq!(args.sub.as_deref(), Some("u1"));
        assert_eq!(args.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(args.room.as_deref(), Some("lobby"));
        for bad in [
            &["--sub"][..],
            &["--sub", "a", "--sub", "b"],
            &["--nmae", "x"],
            &["extra"],
        ] {
            let raw: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
            assert!(parse(&raw).is_err(), "{bad:?}");
        }
    }
}
