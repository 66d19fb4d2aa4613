//! Every function's log setup, as Lambda's advanced logging controls ask:
//! the level from `AWS_LAMBDA_LOG_LEVEL` (the template's
//! `ApplicationLogLevel`), else `RUST_LOG` as a plain level, else INFO;
//! JSON lines when `AWS_LAMBDA_LOG_FORMAT` is JSON (the template's
//! `LogFormat`, which the log metric filters read as `$.fields.message`).
//! The runtime's own setup does the same with an `EnvFilter`, whose
//! directive language nobody here uses and whose regex engine every
//! function carried.

use tracing_subscriber::filter::LevelFilter;

pub fn init() {
    let given = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt().with_target(false).without_time().with_max_level(level(given.as_deref()));
    if json { lines.json().init() } else { lines.init() }
}

/// Lambda's levels (TRACE to FATAL; tracing has no FATAL, ERROR is as
/// close) or a plain level; INFO otherwise.
fn level(given: Option<&str>) -> LevelFilter {
    match given {
        Some(l) if l.eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
        Some(l) => l.parse().unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_lambdas() {
        for (given, expected) in [
            (Some("DEBUG"), LevelFilter::DEBUG),
            (Some("warn"), LevelFilter::WARN),
            (Some("FATAL"), LevelFilter::ERROR),
            (Some("bufdir=debug"), LevelFilter::INFO),
            (None, LevelFilter::INFO),
        ] {
            assert_eq!(level(given), expected, "{given:?}");
        }
    }
}
