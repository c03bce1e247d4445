//! Tracing setup: JSON lines when Lambda's log format is JSON, plain text otherwise.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. The level comes from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then `info`.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_default();
    let filter = EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_target(false);
    // CloudWatch stamps every line with its arrival time, so the lines carry none of their own.
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("JSON")) {
        builder.json().without_time().init();
    } else {
        builder.without_time().init();
    }
}
