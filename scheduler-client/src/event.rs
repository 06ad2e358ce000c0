//! The pipeline event contract (docs/contract.md §1): parse strictly, route to a function and
//! dataset type, derive the output prefix, validate the input prefixes, and build the step
//! output.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use bydelsfakta_queries::functions;
use bydelsfakta_queries::json::Json;
use bydelsfakta_queries::{Function, Target};

/// The event as the data platform sends it. Extra top-level keys are ignored (the original
/// only reads these three); the four nested objects must have exactly their keys.
#[derive(Debug, Clone, Deserialize)]
pub struct PipelineEvent {
    pub execution_name: String,
    pub task: String,
    pub payload: Payload,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub pipeline: Pipeline,
    pub output_dataset: OutputDataset,
    pub step_data: StepData,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub id: String,
    pub task_config: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDataset {
    pub id: String,
    pub version: Value,
    pub edition: Value,
    pub s3_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepData {
    /// Input dataset id -> prefix, in the event's key order.
    pub s3_input_prefixes: Map<String, Value>,
    pub status: Value,
    pub errors: Value,
}

impl PipelineEvent {
    /// Parses the event text; a missing or extra key names itself, and a value of the wrong
    /// type names its key (`payload.output_dataset.s3_prefix: invalid type: ...`).
    pub fn parse(text: &str) -> Result<Self> {
        let mut json = serde_json::Deserializer::from_str(text);
        let event = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Error::InvalidEvent(match path.as_str() {
                "" | "." => inner.to_string(),
                _ => format!("{path}: {inner}"),
            })
        })?;
        // One event per text: anything after it but white space is an error too.
        json.end()
            .map_err(|e| Error::InvalidEvent(format!("after the event: {e}")))?;
        Ok(event)
    }

    /// `payload.pipeline.task_config[task]`.
    fn task_config(&self) -> Result<&Map<String, Value>> {
        self.payload
            .pipeline
            .task_config
            .get(&self.task)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                Error::TaskConfig(format!(
                    "payload.pipeline.task_config has no object for task '{}' (keys: [{}])",
                    self.task,
                    self.payload
                        .pipeline
                        .task_config
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// `task_config[task]["type"]`.
    pub fn dataset_type(&self) -> Result<String> {
        match self.task_config()?.get("type") {
            Some(Value::String(t)) => Ok(t.clone()),
            Some(other) => Err(Error::TaskConfig(format!(
                "payload.pipeline.task_config.{}.type: expected a string, found {other}",
                self.task
            ))),
            None => Err(Error::TaskConfig(format!(
                "task_config.{} has no 'type'",
                self.task
            ))),
        }
    }

    /// `s3_prefix` with every `%stage%` replaced by `intermediate`, plus the task name.
    pub fn output_prefix(&self) -> String {
        format!(
            "{}{}/",
            self.payload
                .output_dataset
                .s3_prefix
                .replace("%stage%", "intermediate"),
            self.task
        )
    }

    /// Which function handles the event: the one named, else the Lambda the task config
    /// names (`bydelsfakta-data-processing-<function>`), else the one producing the output
    /// dataset.
    pub fn function(&self, named: Option<&str>) -> Result<&'static Function> {
        if let Some(name) = named {
            return functions::by_name(name).ok_or_else(|| {
                Error::UnknownFunction(format!(
                    "no function '{name}'; functions: {}",
                    functions::all()
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
        }
        let arn = self
            .task_config()?
            .get("arn")
            .and_then(Value::as_str)
            .unwrap_or("");
        let lambda = arn.rsplit(':').next().unwrap_or(arn);
        if let Some(f) = lambda
            .strip_prefix("bydelsfakta-data-processing-")
            .and_then(|name| functions::by_name(&name.replace('-', "_")))
        {
            return Ok(f);
        }
        functions::by_output_dataset(&self.payload.output_dataset.id)
            .map(|(f, _)| f)
            .ok_or_else(|| {
                Error::UnknownFunction(format!(
                    "neither task_config.{}.arn ('{arn}') nor output dataset '{}' belongs to a function",
                    self.task, self.payload.output_dataset.id
                ))
            })
    }

    /// The prefix of every declared input, in declaration order, checked as the original's
    /// decorator does: missing inputs first (in declaration order), then unexpected ones (in
    /// event order).
    pub fn input_prefixes(&self, function: &Function) -> Result<Vec<(&'static str, String)>> {
        let given = &self.payload.step_data.s3_input_prefixes;
        let declared = function.input_datasets();
        let missing: Vec<String> = declared
            .iter()
            .filter(|id| !given.contains_key(**id))
            .map(|id| id.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(Error::PrefixNotInInput {
                function: function.name.into(),
                missing,
            });
        }
        let extra: Vec<String> = given
            .keys()
            .filter(|k| !declared.contains(&k.as_str()))
            .cloned()
            .collect();
        if !extra.is_empty() {
            return Err(Error::ExtraPrefixesInInput {
                function: function.name.into(),
                extra,
            });
        }
        declared
            .iter()
            .map(|id| match &given[*id] {
                Value::String(prefix) => Ok((*id, prefix.clone())),
                other => Err(Error::InvalidEvent(format!(
                    "payload.step_data.s3_input_prefixes.{id}: expected a string, found {other}"
                ))),
            })
            .collect()
    }

    /// The step output: `{"s3_input_prefixes": {<output id>: <prefix>}, "status": "OK",
    /// "errors": <as received>}` in that key order.
    pub fn step_output(&self) -> Json<'static> {
        Json::object([
            (
                "s3_input_prefixes",
                Json::object([(
                    self.payload.output_dataset.id.clone(),
                    Json::str(self.output_prefix()),
                )]),
            ),
            ("status", Json::str("OK")),
            ("errors", Json::from(&self.payload.step_data.errors)),
        ])
    }
}

/// Everything a run needs, resolved from an event before any input is read: the contract
/// is checked once, here, and what it checked is in the types (a declared dataset type, a
/// prefix for every input), so nothing downstream checks again.
#[derive(Debug, Clone)]
pub struct ResolvedEvent {
    pub event: PipelineEvent,
    /// The function, its type and every input's prefix.
    pub target: Target,
    pub output_prefix: String,
}

impl ResolvedEvent {
    /// Applies the whole contract: function, type (D3), prefixes.
    pub fn resolve(event: PipelineEvent, function: Option<&str>) -> Result<Self> {
        let function = event.function(function)?;
        let type_name = event.dataset_type()?;
        let input_prefixes = event.input_prefixes(function)?;
        let output_prefix = event.output_prefix();
        check_output_prefix(&output_prefix, &input_prefixes)?;
        let target = Target::new(function, &type_name, input_prefixes)?;
        Ok(Self {
            output_prefix,
            event,
            target,
        })
    }
}

/// The output prefix (`s3_prefix` with `%stage%` replaced, plus the task) must name a place
/// of its own in the bucket: relative, no `.` or `..` segment, no empty segment, no control
/// character, not among the processed inputs, and neither inside an input prefix nor around
/// one (writing there would change that input for every later run).
/// S3's limit on a key, and a prefix is part of every document's key.
const MAX_PREFIX_BYTES: usize = 1024;
/// The longest file name most file systems take (a local bucket's folders).
const MAX_SEGMENT_BYTES: usize = 255;

fn check_output_prefix(prefix: &str, inputs: &[(&'static str, String)]) -> Result<()> {
    let invalid = |problem: String| {
        let mut shown = prefix.escape_debug().to_string();
        if shown.len() > 200 {
            let cut = (0..=200)
                .rev()
                .find(|i| shown.is_char_boundary(*i))
                .unwrap_or(0);
            shown.truncate(cut);
            shown.push('…');
        }
        Error::InvalidEvent(format!(
            "payload.output_dataset.s3_prefix: the output prefix '{shown}' {problem}"
        ))
    };
    if prefix.starts_with('/') {
        return Err(invalid(
            "must be relative to the bucket, not start with '/'".into(),
        ));
    }
    if prefix.chars().any(char::is_control) {
        return Err(invalid("has a control character".into()));
    }
    if prefix.len() > MAX_PREFIX_BYTES {
        return Err(invalid(format!(
            "is {} bytes long; an S3 key is at most {MAX_PREFIX_BYTES}",
            prefix.len()
        )));
    }
    // One trailing '/' ends the prefix; a second would be an empty task segment.
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    if let Some(segment) = body.split('/').find(|s| s.len() > MAX_SEGMENT_BYTES) {
        return Err(invalid(format!(
            "has a segment of {} bytes; a folder name is at most {MAX_SEGMENT_BYTES}",
            segment.len()
        )));
    }
    if let Some(segment) = body
        .split('/')
        .find(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(invalid(match segment {
            "" => "has an empty segment ('//')".into(),
            dots => format!("has a '{dots}' segment"),
        }));
    }
    if prefix.starts_with("processed/") {
        return Err(invalid(
            "is inside processed/, where the inputs live".into(),
        ));
    }
    let mut overlapping: Vec<&(&str, String)> = inputs
        .iter()
        .filter(|(_, input)| prefix.starts_with(input.as_str()) || input.starts_with(prefix))
        .collect();
    overlapping.sort();
    if let Some((id, input)) = overlapping.first() {
        return Err(invalid(format!(
            "overlaps the prefix of input {id} ('{input}')"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prop_oneof;

    use super::*;

    fn inputs() -> Vec<(&'static str, String)> {
        vec![(
            "fodte",
            "processed/green/fodte/version=1/edition=E/".to_string(),
        )]
    }

    #[test]
    fn output_prefixes_are_places_of_their_own() {
        check_output_prefix(
            "intermediate/x/version=1/edition=E/lambda_invoker/",
            &inputs(),
        )
        .unwrap();
        check_output_prefix("lambda_invoker/", &inputs()).unwrap();
        for (prefix, says) in [
            ("/etc/x/lambda_invoker/", "relative"),
            ("intermediate/../x/lambda_invoker/", "'..' segment"),
            ("intermediate/./lambda_invoker/", "'.' segment"),
            ("intermediate//lambda_invoker/", "empty segment"),
            ("intermediate/a\u{7}b/lambda_invoker/", "control character"),
            ("processed/green/other/lambda_invoker/", "inside processed/"),
            ("intermediate/x//", "empty segment"),
            (
                &format!("intermediate/{}/lambda_invoker/", "z".repeat(300)),
                "a segment of 300 bytes",
            ),
            (&format!("intermediate/{}/", "z/".repeat(600)), "bytes long"),
        ] {
            let e = check_output_prefix(prefix, &inputs())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && e.contains("s3_prefix"), "{e}");
        }
        // Around an input prefix, or inside one.
        let input = vec![("x", "intermediate/in/".to_string())];
        for prefix in ["intermediate/in/lambda_invoker/", "intermediate/"] {
            let e = check_output_prefix(prefix, &input).unwrap_err().to_string();
            assert!(e.contains("overlaps the prefix of input x"), "{e}");
        }
    }

    /// An event of the platform's shape with `s3_prefix`, `type`, `task`, an input prefix
    /// and an extra input replaced by what the strategy makes.
    fn event(
        prefix: &serde_json::Value,
        dataset_type: &serde_json::Value,
        task: &str,
        input: &serde_json::Value,
        extra: Option<&str>,
    ) -> String {
        let mut inputs = serde_json::Map::new();
        inputs.insert("husholdninger-etter-rom-per-person".into(), input.clone());
        if let Some(extra) = extra {
            inputs.insert(extra.into(), serde_json::json!("processed/x/"));
        }
        serde_json::json!({
            "execution_name": "e",
            "task": task,
            "payload": {
                "pipeline": {"id": "p", "task_config": {task: {"type": dataset_type}}},
                "output_dataset": {"id": "trangboddhet-over-2-status", "version": "1", "edition": "E", "s3_prefix": prefix},
                "step_data": {"s3_input_prefixes": inputs, "status": "PENDING", "errors": []}
            }
        })
        .to_string()
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        prop_oneof![
            "\\PC{0,30}".prop_map(serde_json::Value::from),
            "(%stage%|\\.\\.|\\.|/|#|\\?|processed|[a-z=_0-9]{1,8}|\\x1b)(/(%stage%|\\.\\.|\\.|#|[a-z=_0-9]{0,8})){0,5}/?"
                .prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            Just(serde_json::json!(["a"])),
        ]
    }

    // Property-based fuzzing (`PROPTEST_CASES` sets how many cases; 256 by default).
    proptest::proptest! {
        /// Any text is an event or an `InvalidEventError`, never a panic.
        #[test]
        fn any_text_is_an_event_or_invalid(text in "\\PC{0,200}") {
            match PipelineEvent::parse(&text) {
                Ok(_) | Err(Error::InvalidEvent(_)) => {}
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }

        /// Any event resolves to a checked output prefix or fails with a typed error.
        #[test]
        fn any_event_resolves_to_a_place_of_its_own_or_fails(
            prefix in json_value(),
            dataset_type in prop_oneof![proptest::strategy::Just(serde_json::json!("over-2_status")), json_value()],
            task in "lambda_invoker|[a-z_]{0,10}|\\PC{0,6}",
            input in prop_oneof![proptest::strategy::Just(serde_json::json!("processed/green/h/version=1/edition=E/")), json_value()],
            extra in proptest::option::of("[a-z-]{1,10}"),
        ) {
            let text = event(&prefix, &dataset_type, &task, &input, extra.as_deref());
            let resolved = PipelineEvent::parse(&text)
                .and_then(|event| ResolvedEvent::resolve(event, None));
            match resolved {
                Ok(resolved) => {
                    let prefix = &resolved.output_prefix;
                    proptest::prop_assert!(!prefix.starts_with('/'), "{prefix}");
                    proptest::prop_assert!(!prefix.chars().any(char::is_control), "{prefix:?}");
                    proptest::prop_assert!(
                        prefix.trim_end_matches('/').split('/').all(|s| !s.is_empty() && s != "." && s != ".."),
                        "{prefix}"
                    );
                    proptest::prop_assert!(!prefix.starts_with("processed/"), "{prefix}");
                    for (_, input) in resolved.target.input_prefixes() {
                        proptest::prop_assert!(!prefix.starts_with(input.as_str()) && !input.starts_with(prefix.as_str()));
                    }
                }
                Err(e) => proptest::prop_assert!(
                    ["InvalidEventError", "TaskConfigError", "UnknownFunctionError", "UnknownDatasetTypeError", "PrefixNotInInputError", "ExtraPrefixesInInputError"].contains(&e.kind()),
                    "{}: {e}", e.kind()
                ),
            }
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let text = r#"{"execution_name": "e", "task": "t", "payload": {"pipeline": {"id": "p", "task_config": {}},
            "output_dataset": {"id": "o", "version": "1", "edition": "E", "s3_prefix": 7},
            "step_data": {"s3_input_prefixes": {}, "status": "PENDING", "errors": []}}}"#;
        let e = PipelineEvent::parse(text).unwrap_err().to_string();
        assert!(
            e.contains("payload.output_dataset.s3_prefix: invalid type: integer `7`"),
            "{e}"
        );
    }

    #[test]
    fn anything_after_the_event_is_an_error() {
        let text = event(
            &serde_json::json!("intermediate/x/"),
            &serde_json::json!("over-2_status"),
            "lambda_invoker",
            &serde_json::json!("processed/green/x/"),
            None,
        );
        PipelineEvent::parse(&format!("{text}\n  ")).unwrap();
        let e = PipelineEvent::parse(&format!("{text} garbage"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("after the event: trailing characters"), "{e}");
    }
}
