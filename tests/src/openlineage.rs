//! An OpenLineage HTTP endpoint on loopback, as Marquez serves it: `POST /api/v1/lineage`
//! with one `RunEvent` in JSON. [`check_event`] validates an event against the
//! OpenLineage 2-0-2 JSON schema, and each facet against its own facet schema
//! (`fixtures/openlineage/`, copied from the OpenLineage specification).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use jsonschema::Registry;
use serde_json::{Value, json};

use crate::loopback::Loopback;

/// One request the endpoint received: its `Authorization` header and the event.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: Option<String>,
    pub event: Value,
}

/// An endpoint; dropping it stops serving.
pub struct LineageSink {
    server: Loopback,
    received: Arc<Mutex<Vec<Received>>>,
}

impl LineageSink {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(vec![]));
        let app = Router::new()
            .route("/api/v1/lineage", post(lineage))
            .with_state(received.clone());
        let server = Loopback::serve(app, "lineage endpoint").await;
        Self { server, received }
    }

    /// The value of `OPENLINEAGE_URL`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn lineage(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let Ok(event) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    received.lock().unwrap().push(Received {
        authorization,
        event,
    });
    StatusCode::CREATED
}

/// The schemas: OpenLineage.json and the facet schemas, each under its `$id`.
fn schemas() -> Vec<(String, Value)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/openlineage");
    std::fs::read_dir(&folder)
        .expect("fixtures/openlineage")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension() == Some("json".as_ref()))
        .map(|path| {
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("schema"))
                    .expect("schema JSON");
            let id = schema["$id"].as_str().expect("$id").to_string();
            (id, schema)
        })
        .collect()
}

/// Checks `event` against the `RunEvent` schema, and every facet against the schema its
/// `_schemaURL` names (which must be one of ours); formats (`date-time`, `uri`, `uuid`) are
/// checked too. Returns every violation found.
pub fn check_event(event: &Value) -> Result<(), Vec<String>> {
    let schemas = schemas();
    let mut registry = Registry::new();
    for (id, schema) in &schemas {
        registry = registry.add(id.as_str(), schema.clone()).expect("schema");
    }
    let registry = registry.prepare().expect("registry");
    let check = |schema: Value, instance: &Value, what: &str| -> Vec<String> {
        let validator = jsonschema::options()
            .with_registry(&registry)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{what}: {e} at {}", e.instance_path()))
            .collect()
    };
    let mut errors = check(
        json!({"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}),
        event,
        "RunEvent",
    );
    for (key, facet) in facets(event) {
        let url = facet["_schemaURL"].as_str().unwrap_or_default();
        let file = url.split('#').next().unwrap_or_default();
        if !schemas.iter().any(|(id, _)| id == file) {
            errors.push(format!("facet {key}: no schema of ours is {url}"));
            continue;
        }
        let what = format!("facet {key}");
        errors.extend(check(json!({"$ref": file}), &json!({key: facet}), &what));
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err(errors),
    }
}

/// Every facet of the event, by its key.
fn facets(event: &Value) -> Vec<(String, Value)> {
    let mut groups = vec![&event["run"]["facets"], &event["job"]["facets"]];
    for side in ["inputs", "outputs"] {
        for dataset in event[side].as_array().into_iter().flatten() {
            groups.extend([
                &dataset["facets"],
                &dataset["inputFacets"],
                &dataset["outputFacets"],
            ]);
        }
    }
    groups
        .into_iter()
        .filter_map(Value::as_object)
        .flatten()
        .map(|(key, facet)| (key.clone(), facet.clone()))
        .collect()
}
