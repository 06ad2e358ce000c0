//! How long an S3 request may take and how often it is tried. Every store call goes through
//! object_store's retry loop: server errors (5xx), throttling (429, `SlowDown`) and request
//! timeouts are retried with exponential backoff; other errors (403, 404, 412) are not.
//! A call gives up after `retry_timeout` plus at most one `request_timeout`. A local
//! folder's calls have no retries; each answers within `local_call_timeout`
//! ([`super::bounded`]).

use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};

use bydelsfakta_queries::publication::lease::outlasts_calls;

use crate::run::parse_seconds;

/// The environment variables of [`StoreSettings`], read by every process that builds a
/// store (the CLI's flags of the same names win there).
pub const CONNECT_TIMEOUT_VARIABLE: &str = "BYDELSFAKTA_S3_CONNECT_TIMEOUT";
pub const REQUEST_TIMEOUT_VARIABLE: &str = "BYDELSFAKTA_S3_REQUEST_TIMEOUT";
pub const RETRY_TIMEOUT_VARIABLE: &str = "BYDELSFAKTA_S3_RETRY_TIMEOUT";
pub const MAX_RETRIES_VARIABLE: &str = "BYDELSFAKTA_S3_MAX_RETRIES";
pub const LOCAL_CALL_TIMEOUT_VARIABLE: &str = "BYDELSFAKTA_LOCAL_CALL_TIMEOUT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSettings {
    /// To open a connection.
    pub connect_timeout: Duration,
    /// For one request, from sending it to the last byte of its answer.
    pub request_timeout: Duration,
    /// No retry starts after this long from the first try.
    pub retry_timeout: Duration,
    /// Retries of one call at most.
    pub max_retries: usize,
    /// For one call of a local folder, to the last byte of its answer (or of each chunk of
    /// an object's bytes, or each item of a listing): as long as an S3 call may take.
    pub local_call_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retry_timeout: Duration::from_secs(20),
            max_retries: 5,
            local_call_timeout: Duration::from_secs(30),
        }
    }
}

impl StoreSettings {
    /// The longest one store call of this process can take, its retries included: an S3
    /// call gives up after the retry timeout plus one request timeout, a local folder's
    /// after its call timeout.
    pub fn longest_call(&self) -> Duration {
        (self.retry_timeout + self.request_timeout).max(self.local_call_timeout)
    }

    /// Whether a lease of `lease_ttl` outlasts every write begun on half of it
    /// ([`outlasts_calls`]); the problem names the settings to change.
    pub fn check_lease(&self, lease_ttl: Duration) -> Result<(), String> {
        outlasts_calls(lease_ttl, self.longest_call()).map_err(|problem| {
            format!(
                "{problem}; raise the lease, or lower {RETRY_TIMEOUT_VARIABLE} plus {REQUEST_TIMEOUT_VARIABLE}, or {LOCAL_CALL_TIMEOUT_VARIABLE}"
            )
        })
    }

    /// The defaults, overridden by the environment variables that are set.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults = Self::default();
        let seconds = |variable: &str, default: Duration| match lookup(variable) {
            None => Ok(default),
            Some(text) => parse_seconds(&text).map_err(|e| format!("{variable}: {e}")),
        };
        let max_retries = match lookup(MAX_RETRIES_VARIABLE) {
            None => defaults.max_retries,
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("{MAX_RETRIES_VARIABLE}: '{text}' is not a count"))?,
        };
        Ok(Self {
            connect_timeout: seconds(CONNECT_TIMEOUT_VARIABLE, defaults.connect_timeout)?,
            request_timeout: seconds(REQUEST_TIMEOUT_VARIABLE, defaults.request_timeout)?,
            retry_timeout: seconds(RETRY_TIMEOUT_VARIABLE, defaults.retry_timeout)?,
            max_retries,
            local_call_timeout: seconds(LOCAL_CALL_TIMEOUT_VARIABLE, defaults.local_call_timeout)?,
        })
    }

    /// `builder` with these timeouts and retries; the rest of its client options (those of
    /// `AWS_*`, such as `AWS_ALLOW_HTTP`) stay as they are.
    pub fn apply(&self, builder: AmazonS3Builder) -> AmazonS3Builder {
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        builder
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                millis(self.connect_timeout),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                millis(self.request_timeout),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: self.max_retries,
                retry_timeout: self.retry_timeout,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_in_seconds() {
        let vars = [
            (REQUEST_TIMEOUT_VARIABLE, "2.5"),
            (MAX_RETRIES_VARIABLE, "0"),
        ];
        let settings = StoreSettings::from_lookup(|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        assert_eq!(settings.request_timeout, Duration::from_millis(2500));
        assert_eq!(settings.max_retries, 0);
        assert_eq!(
            settings.connect_timeout,
            StoreSettings::default().connect_timeout
        );
        let e =
            StoreSettings::from_lookup(|n| (n == RETRY_TIMEOUT_VARIABLE).then(|| "soon".into()))
                .unwrap_err();
        assert!(e.contains(RETRY_TIMEOUT_VARIABLE), "{e}");
    }

    #[test]
    fn a_lease_must_outlast_two_of_the_longest_calls() {
        let defaults = StoreSettings::default();
        assert_eq!(defaults.longest_call(), Duration::from_secs(30));
        defaults.check_lease(Duration::from_secs(60)).unwrap();
        let e = defaults.check_lease(Duration::from_secs(59)).unwrap_err();
        assert!(e.contains("59 s") && e.contains("(30 s)"), "{e}");
        assert!(e.contains(REQUEST_TIMEOUT_VARIABLE), "{e}");
        let slow_folder = StoreSettings {
            local_call_timeout: Duration::from_secs(45),
            ..defaults
        };
        assert_eq!(slow_folder.longest_call(), Duration::from_secs(45));
        assert!(slow_folder.check_lease(Duration::from_secs(60)).is_err());
    }
}
