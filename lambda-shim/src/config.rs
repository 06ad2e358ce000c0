//! The shim's settings, all from the function's environment (credentials come from the
//! function's role through the standard `AWS_*` variables, read by the object store).

use bydelsfakta_queries::bucket::Bucket;
use bydelsfakta_queries::publication::records::PublishSettings;
use bydelsfakta_scheduler_client::run::{
    LEASE_TTL_VARIABLE, PUBLISH_WAIT_VARIABLE, parse_published_date, parse_seconds,
};
use bydelsfakta_scheduler_client::stores::settings::StoreSettings;

/// The original functions' bucket variable and its default (docs/contract.md §1.3).
const BUCKET_NAME: &str = "BUCKET_NAME";
const DEFAULT_BUCKET_NAME: &str = "ok-origo-dataplatform-dev";

#[derive(Debug, thiserror::Error)]
#[error("lambda shim configuration: {variable}: {problem}")]
pub struct ConfigError {
    variable: &'static str,
    problem: String,
}

/// Where events are run and what they read and write.
#[derive(Debug, Clone)]
pub struct ShimConfig {
    /// `BYDELSFAKTA_BUCKET` (a bucket URL, `s3://name` or `file:///folder`, or an absolute
    /// folder path), else `s3://$BUCKET_NAME` as the original functions read it.
    pub bucket: Bucket,
    /// `BYDELSFAKTA_SCHEDULER` (`df://host:port`): the cluster that runs the plans. Unset,
    /// the plans run in the shim's own process.
    pub scheduler: Option<String>,
    /// `BYDELSFAKTA_FUNCTION`: the function this deployment runs, as each original Lambda
    /// ran one. Unset, the event's output dataset picks it.
    pub function: Option<String>,
    /// `BYDELSFAKTA_PUBLISHED_DATE` (`YYYY-MM-DD`): a fixed `meta.publishedDate`, for
    /// reproducible runs. Unset, each invocation's date (UTC).
    pub published_date: Option<String>,
    /// `BYDELSFAKTA_PUBLISH_WAIT` and `BYDELSFAKTA_LEASE_TTL` (seconds): how publishers of
    /// one output prefix wait for each other (60 s each by default).
    pub publish: PublishSettings,
}

impl ShimConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// The settings from `lookup`, which answers a variable's value if it is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (variable, url) = match lookup("BYDELSFAKTA_BUCKET") {
            Some(url) => ("BYDELSFAKTA_BUCKET", url),
            None => {
                let name = lookup(BUCKET_NAME).unwrap_or_else(|| DEFAULT_BUCKET_NAME.into());
                (BUCKET_NAME, format!("s3://{name}"))
            }
        };
        // An absolute folder path is a local bucket, as the scheduler takes the same
        // variable; whether the folder is there shows at the first read.
        let bucket = if url.contains("://") {
            Bucket::parse(&url)
        } else {
            Bucket::folder(std::path::Path::new(&url))
        }
        .map_err(|e| ConfigError {
            variable,
            problem: e.to_string(),
        })?;
        let published_date = lookup("BYDELSFAKTA_PUBLISHED_DATE")
            .map(|date| parse_published_date(&date))
            .transpose()
            .map_err(|problem| ConfigError {
                variable: "BYDELSFAKTA_PUBLISHED_DATE",
                problem,
            })?;
        let seconds = |variable: &'static str, default| match lookup(variable) {
            None => Ok(default),
            Some(text) => parse_seconds(&text).map_err(|problem| ConfigError { variable, problem }),
        };
        let publish = PublishSettings {
            wait: seconds(PUBLISH_WAIT_VARIABLE, PublishSettings::DEFAULT_WAIT)?,
            lease_ttl: seconds(LEASE_TTL_VARIABLE, PublishSettings::DEFAULT_LEASE_TTL)?,
            // Each invocation sets its own (`invocation::publication_deadline`).
            deadline_ms: None,
        };
        // The shim's own store settings stand for the executors' (docs/publication.md).
        let stores = StoreSettings::from_lookup(&lookup).map_err(|problem| ConfigError {
            variable: "store settings",
            problem,
        })?;
        stores
            .check_lease(publish.lease_ttl)
            .map_err(|problem| ConfigError {
                variable: LEASE_TTL_VARIABLE,
                problem,
            })?;
        Ok(Self {
            bucket,
            scheduler: lookup("BYDELSFAKTA_SCHEDULER"),
            function: lookup("BYDELSFAKTA_FUNCTION"),
            published_date,
            publish,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ShimConfig, ConfigError> {
        ShimConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn bucket_name_is_the_originals_fallback() {
        let config = config(&[("BUCKET_NAME", "ok-origo-dataplatform-prod")]).unwrap();
        assert_eq!(config.bucket.url(), "s3://ok-origo-dataplatform-prod");
        assert!(config.scheduler.is_none());
        let config = super::ShimConfig::from_lookup(|_| None).unwrap();
        assert_eq!(config.bucket.url(), "s3://ok-origo-dataplatform-dev");
    }

    #[test]
    fn bydelsfakta_bucket_wins() {
        let config = config(&[
            ("BUCKET_NAME", "ignored"),
            ("BYDELSFAKTA_BUCKET", "s3://bydelsfakta"),
            ("BYDELSFAKTA_SCHEDULER", "df://scheduler:50050"),
        ])
        .unwrap();
        assert_eq!(config.bucket.url(), "s3://bydelsfakta");
        assert_eq!(config.scheduler.as_deref(), Some("df://scheduler:50050"));
    }

    #[test]
    fn an_absolute_folder_is_a_local_bucket() {
        let folder = config(&[("BYDELSFAKTA_BUCKET", "/data/bucket")]).unwrap();
        assert_eq!(folder.bucket.url(), "file:///data/bucket");
        let e = config(&[("BYDELSFAKTA_BUCKET", "relative/bucket")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("BYDELSFAKTA_BUCKET: bucket 'relative/bucket': a bucket folder must be an absolute path"),
            "{e}"
        );
    }

    #[test]
    fn bad_settings_name_their_variable() {
        let e = config(&[("BYDELSFAKTA_BUCKET", "ftp://x")]).unwrap_err();
        assert!(e.to_string().contains("BYDELSFAKTA_BUCKET"), "{e}");
        let e = config(&[("BYDELSFAKTA_PUBLISHED_DATE", "28.11.2026")]).unwrap_err();
        assert!(e.to_string().contains("BYDELSFAKTA_PUBLISHED_DATE"), "{e}");
        let e = config(&[("BYDELSFAKTA_PUBLISH_WAIT", "a minute")]).unwrap_err();
        assert!(e.to_string().contains("BYDELSFAKTA_PUBLISH_WAIT"), "{e}");
        let e = config(&[("BYDELSFAKTA_S3_REQUEST_TIMEOUT", "soon")]).unwrap_err();
        assert!(
            e.to_string().contains("BYDELSFAKTA_S3_REQUEST_TIMEOUT"),
            "{e}"
        );
    }

    #[test]
    fn a_lease_shorter_than_two_store_calls_is_refused() {
        let e = config(&[("BYDELSFAKTA_LEASE_TTL", "30")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("BYDELSFAKTA_LEASE_TTL: a lease of 30 s"),
            "{e}"
        );
        config(&[
            ("BYDELSFAKTA_LEASE_TTL", "30"),
            ("BYDELSFAKTA_S3_RETRY_TIMEOUT", "5"),
            ("BYDELSFAKTA_S3_REQUEST_TIMEOUT", "5"),
            ("BYDELSFAKTA_LOCAL_CALL_TIMEOUT", "15"),
        ])
        .unwrap();
    }

    #[test]
    fn publish_settings_come_in_seconds() {
        let config = config(&[
            ("BYDELSFAKTA_PUBLISH_WAIT", "2.5"),
            ("BYDELSFAKTA_LEASE_TTL", "90"),
        ])
        .unwrap();
        assert_eq!(config.publish.wait, std::time::Duration::from_millis(2500));
        assert_eq!(config.publish.lease_ttl, std::time::Duration::from_secs(90));
        assert_eq!(
            super::ShimConfig::from_lookup(|_| None).unwrap().publish,
            PublishSettings::default()
        );
    }
}
