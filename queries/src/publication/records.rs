//! The records the protocol writes: what a run is (it travels with the writer to the
//! executor), the journal of a publication under way, and the manifest that completes one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::document::Document;

/// One run of one output: who publishes, and from what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique per run (a UUIDv7, so ids sort by time). A Ballista task may run twice; the
    /// second attempt of the same run finds the first one's manifest and writes nothing.
    pub run_id: String,
    pub function: String,
    pub dataset_type: String,
    /// Where the plan ran: `embedded`, `standalone` or `cluster` (empty in a job from
    /// before it was recorded).
    #[serde(default)]
    pub engine: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Every input object the run read, in the function's order.
    pub inputs: Vec<InputObject>,
}

/// One input object as the run found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputObject {
    pub dataset: String,
    /// From the key's `version=` segment, if it has one.
    pub version: Option<String>,
    /// From the key's `edition=` segment, if it has one.
    pub edition: Option<String>,
    pub key: String,
    pub size: u64,
    pub e_tag: Option<String>,
    /// The data lines the run read (the header aside): counted as the input is typed, or
    /// taken from the object's typed-input record. Null in a record from before it was kept.
    #[serde(default)]
    pub rows: Option<u64>,
}

impl InputObject {
    pub fn new(dataset: &str, key: String, size: u64, e_tag: Option<String>) -> Self {
        let segment = |name: &str| {
            key.split('/')
                .find_map(|s| s.strip_prefix(name))
                .map(str::to_string)
        };
        Self {
            dataset: dataset.into(),
            version: segment("version="),
            edition: segment("edition="),
            size,
            e_tag,
            key,
            rows: None,
        }
    }
}

/// How long publishers wait for each other, and how long a lease lasts without renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishSettings {
    /// A lease not renewed for this long is taken over (its holder is taken for dead).
    #[serde(with = "millis")]
    pub lease_ttl: Duration,
    /// How long a publisher waits for another one's lease before it gives up
    /// (`PublicationInProgressError`).
    #[serde(with = "millis")]
    pub wait: Duration,
    /// The instant (milliseconds since the Unix epoch, on the publisher's clock) after
    /// which a publication starts nothing that would change documents: it waits for
    /// another's lease only until then, and refuses to begin, or to begin changing
    /// documents, once it has passed. The Lambda shim sets it before the invocation's own
    /// deadline, so that a run is refused with an error rather than stopped by Lambda
    /// halfway through its documents. `None`: no deadline (the CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

impl PublishSettings {
    pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

    /// These settings with a deadline of `deadline`.
    pub fn with_deadline(self, deadline: SystemTime) -> Self {
        let ms = deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            deadline_ms: Some(ms),
            ..self
        }
    }

    /// The time left before the deadline, by this process's clock: `None` without one,
    /// zero once it has passed.
    pub fn time_left(&self) -> Option<Duration> {
        let deadline = UNIX_EPOCH + Duration::from_millis(self.deadline_ms?);
        Some(
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
        )
    }

    /// Whether the deadline has passed.
    pub fn past_deadline(&self) -> bool {
        self.time_left().is_some_and(|left| left.is_zero())
    }
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Self::DEFAULT_LEASE_TTL,
            wait: Self::DEFAULT_WAIT,
            deadline_ms: None,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// One document of a set: its name, size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

impl DocumentEntry {
    pub fn of(document: &Document) -> Self {
        Self {
            name: document.file_name.clone(),
            size: document.body.len() as u64,
            sha256: sha256_hex(document.body.as_bytes()),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// A publication that has started to change the documents. It is written once every new
/// document is staged and every document it replaces is backed up, and removed once the
/// manifest is written (roll forward) or the previous documents are restored (roll back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub format: String,
    pub run_id: String,
    pub output_dataset: String,
    /// The new set, as its manifest will list it.
    pub documents: Vec<DocumentEntry>,
    /// The documents that were there before, each backed up under the run's folder.
    pub previous: Vec<String>,
    /// Whether a manifest was there before (backed up too).
    pub previous_manifest: bool,
}

impl Journal {
    pub const FORMAT: &str = "bydelsfakta-journal/1";
}

/// The completion record of a publication: written last, so a manifest beside the
/// documents says that they are exactly the set it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub run_id: String,
    pub function: String,
    pub dataset_type: String,
    pub output_dataset: String,
    pub output_prefix: String,
    pub published_date: String,
    /// The version of bydelsfakta that wrote it.
    pub writer: String,
    /// Where the plan ran: `embedded`, `standalone` or `cluster` (absent from manifests
    /// written before it was recorded).
    #[serde(default)]
    pub engine: String,
    pub started_at: String,
    pub published_at: String,
    pub inputs: Vec<InputObject>,
    pub documents: Vec<DocumentEntry>,
    /// Documents of the previous set that this set no longer has; they were deleted.
    pub removed: Vec<String>,
}

impl Manifest {
    pub const FORMAT: &str = "bydelsfakta-manifest/1";

    pub fn bytes(&self) -> u64 {
        self.documents.iter().map(|d| d.size).sum()
    }
}

/// Now, as RFC 3339 in UTC with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_objects_know_their_version_and_edition() {
        let input = InputObject::new(
            "fodte",
            "processed/green/fodte/version=1/edition=20241215T063308/fodte.csv".into(),
            10,
            None,
        );
        assert_eq!(input.version.as_deref(), Some("1"));
        assert_eq!(input.edition.as_deref(), Some("20241215T063308"));
        let bare = InputObject::new("fodte", "somewhere/fodte.csv".into(), 10, None);
        assert_eq!((bare.version, bare.edition), (None, None));
    }

    #[test]
    fn documents_are_hashed_as_sha256() {
        let entry = DocumentEntry::of(&Document {
            file_name: "00.json".into(),
            body: "abc".into(),
        });
        assert_eq!(
            entry.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(entry.size, 3);
    }

    #[test]
    fn settings_travel_as_milliseconds() {
        let settings = PublishSettings {
            lease_ttl: Duration::from_millis(1500),
            wait: Duration::from_secs(2),
            deadline_ms: None,
        };
        let text = serde_json::to_string(&settings).unwrap();
        assert_eq!(text, r#"{"lease_ttl":1500,"wait":2000}"#);
        assert_eq!(
            serde_json::from_str::<PublishSettings>(&text).unwrap(),
            settings
        );
        let deadline = UNIX_EPOCH + Duration::from_millis(1_796_342_400_123);
        let settings = settings.with_deadline(deadline);
        let text = serde_json::to_string(&settings).unwrap();
        assert_eq!(
            text,
            r#"{"lease_ttl":1500,"wait":2000,"deadline_ms":1796342400123}"#
        );
        assert_eq!(
            serde_json::from_str::<PublishSettings>(&text).unwrap(),
            settings
        );
    }

    #[test]
    fn a_deadline_leaves_time_until_it_passes() {
        let settings = PublishSettings::default();
        assert_eq!(settings.time_left(), None);
        assert!(!settings.past_deadline());
        let later = settings.with_deadline(SystemTime::now() + Duration::from_secs(60));
        assert!(later.time_left().unwrap() > Duration::from_secs(50));
        assert!(!later.past_deadline());
        let passed = settings.with_deadline(SystemTime::now() - Duration::from_millis(1));
        assert_eq!(passed.time_left(), Some(Duration::ZERO));
        assert!(passed.past_deadline());
    }
}
