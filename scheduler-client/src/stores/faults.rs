//! Fault injection for object stores, as Ballista's `ballista.testing.chaos_execution.*`
//! does for tasks: fail or delay the N-th call of an operation. The publication suite wraps
//! its stores in [`FaultyStore`] directly; a real process (the CLI, an executor, the shim)
//! wraps every store it builds when `BYDELSFAKTA_FAULTS` is set, so that tests can stop or
//! break it at an exact point of its work. Unset, nothing is wrapped and nothing costs.
//!
//! `BYDELSFAKTA_FAULTS` is a comma-separated list of
//! * `<operation>#<n>=<action>`: operation `put`, `create` (a conditional put), `copy`,
//!   `rename`, `delete`, `list`, `get` or `head`; `n` counts from 1 per operation and
//!   process; action `fail` (not done), `fail-after` (done, then reported failed: a lost
//!   answer), `delay:<ms>` (wait, then do it) or `delay-after:<ms>` (do it, then wait);
//! * `path=<text>`: count only calls on keys that contain `text`;
//! * `once=<file>`: only the first process to create `file` injects anything (for a
//!   cluster, where every executor has the same environment).
//!
//! Each fault is announced on stderr when it takes effect (before the call, or once it
//! landed for the `-after` actions): `bydelsfakta: injected fault: rename #4: delay 30000 ms`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The environment variable a process's stores read their faults from.
pub const FAULTS_VARIABLE: &str = "BYDELSFAKTA_FAULTS";

/// A store operation as the protocol sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Put,
    /// A conditional put (`PutMode::Create` or `Update`).
    Create,
    Copy,
    Rename,
    Delete,
    List,
    Get,
    Head,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::Put,
        Operation::Create,
        Operation::Copy,
        Operation::Rename,
        Operation::Delete,
        Operation::List,
        Operation::Get,
        Operation::Head,
    ];

    /// A put in `mode`: conditional or not.
    pub fn of_put(mode: &PutMode) -> Self {
        match mode {
            PutMode::Overwrite => Operation::Put,
            PutMode::Create | PutMode::Update(_) => Operation::Create,
        }
    }

    /// A get with `options`: of the object, or of its metadata alone.
    pub fn of_get(options: &GetOptions) -> Self {
        if options.head {
            Operation::Head
        } else {
            Operation::Get
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::Put => "put",
            Operation::Create => "create",
            Operation::Copy => "copy",
            Operation::Rename => "rename",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Head => "head",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to the call a rule picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Not done; an error is returned.
    Fail,
    /// Done, then an error is returned (the answer was lost on the way).
    FailAfter,
    /// Done after a wait.
    Delay(Duration),
    /// Done, then answered after a wait.
    DelayAfter(Duration),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Fail => write!(f, "fail"),
            Action::FailAfter => write!(f, "fail after doing it"),
            Action::Delay(d) => write!(f, "delay {} ms", d.as_millis()),
            Action::DelayAfter(d) => write!(f, "delay {} ms after doing it", d.as_millis()),
        }
    }
}

/// The `n`-th call of `operation` (from 1) gets `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub operation: Operation,
    pub nth: u64,
    pub action: Action,
}

/// Which calls count, and which of them get a fault.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    pub rules: Vec<Rule>,
    /// Only calls on keys containing this count.
    pub path: Option<String>,
    /// Only the process that creates this file first injects.
    pub once: Option<std::path::PathBuf>,
}

impl Faults {
    /// Parses the `BYDELSFAKTA_FAULTS` syntax (module doc).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut faults = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (left, right) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}': expected <operation>#<n>=<action>"))?;
            match left {
                "path" => faults.path = Some(right.to_string()),
                "once" => faults.once = Some(right.into()),
                _ => faults.rules.push(parse_rule(left, right)?),
            }
        }
        Ok(faults)
    }

    /// `BYDELSFAKTA_FAULTS`, if set; a bad value stops the process's store from being
    /// built, naming the variable.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(FAULTS_VARIABLE) {
            Ok(spec) if !spec.trim().is_empty() => Faults::parse(&spec)
                .map(Some)
                .map_err(|e| format!("{FAULTS_VARIABLE}: {e}")),
            _ => Ok(None),
        }
    }
}

fn parse_rule(left: &str, action: &str) -> Result<Rule, String> {
    let (operation, nth) = left
        .split_once('#')
        .ok_or_else(|| format!("'{left}': expected <operation>#<n>"))?;
    let operation = Operation::ALL
        .into_iter()
        .find(|o| o.name() == operation)
        .ok_or_else(|| {
            let names: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
            format!(
                "'{operation}' is not an operation; operations: {}",
                names.join(", ")
            )
        })?;
    let nth: u64 = nth
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{nth}': the call number counts from 1"))?;
    let millis = |text: &str| {
        text.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("'{text}' is not a number of milliseconds"))
    };
    let action = match action.split_once(':') {
        None if action == "fail" => Action::Fail,
        None if action == "fail-after" => Action::FailAfter,
        Some(("delay", ms)) => Action::Delay(millis(ms)?),
        Some(("delay-after", ms)) => Action::DelayAfter(millis(ms)?),
        _ => {
            return Err(format!(
                "'{action}': actions are fail, fail-after, delay:<ms>, delay-after:<ms>"
            ));
        }
    };
    Ok(Rule {
        operation,
        nth,
        action,
    })
}

/// A store that counts the calls of each operation and applies [`Faults`] to them.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<State>,
}

/// The counters and rules, shared with the `'static` streams a store hands out.
#[derive(Debug)]
struct State {
    faults: Faults,
    /// Announce each fault on stderr (real processes, for the tests that watch them).
    announce: bool,
    calls: Mutex<HashMap<Operation, u64>>,
    armed: Mutex<Option<bool>>,
    /// Told each time a fault is injected, for tests that act at that moment.
    fired: tokio::sync::Notify,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Faults) -> Self {
        Self::with(inner, faults, false)
    }

    /// The same, announcing each fault on stderr.
    pub fn announcing(inner: Arc<dyn ObjectStore>, faults: Faults) -> Self {
        Self::with(inner, faults, true)
    }

    fn with(inner: Arc<dyn ObjectStore>, faults: Faults, announce: bool) -> Self {
        let state = State {
            faults,
            announce,
            calls: Mutex::default(),
            armed: Mutex::default(),
            fired: tokio::sync::Notify::new(),
        };
        Self {
            inner,
            state: Arc::new(state),
        }
    }

    /// How many calls of each operation have counted so far.
    pub fn calls(&self) -> HashMap<Operation, u64> {
        self.state.calls.lock().expect("fault counter lock").clone()
    }

    /// Resolves once a fault has taken effect (at once if one did since the last call):
    /// before the call for `fail` and `delay`, after it landed for the `-after` actions.
    pub async fn fired(&self) {
        self.state.fired.notified().await
    }

    async fn counted<T>(
        &self,
        operation: Operation,
        path: &Path,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        let rule = self.state.count(operation, path);
        apply(&self.state, rule, path, call).await
    }
}

impl State {
    /// Counts a call of `operation` on `path`; the rule it meets, if any and armed.
    fn count(&self, operation: Operation, path: &Path) -> Option<Rule> {
        if let Some(text) = &self.faults.path
            && !path.as_ref().contains(text.as_str())
        {
            return None;
        }
        let nth = {
            let mut calls = self.calls.lock().expect("fault counter lock");
            let n = calls.entry(operation).or_default();
            *n += 1;
            *n
        };
        let rule = self
            .faults
            .rules
            .iter()
            .find(|r| r.operation == operation && r.nth == nth)?;
        self.is_armed().then_some(*rule)
    }

    /// Announces that `rule` takes effect now: before the call for `fail` and `delay`,
    /// once the call landed for `fail-after` and `delay-after`, so that a test that acts
    /// on the announcement (a kill, say) finds the call in the state the rule names.
    fn fire(&self, rule: &Rule) {
        if self.announce {
            eprintln!(
                "bydelsfakta: injected fault: {} #{}: {}",
                rule.operation, rule.nth, rule.action
            );
        }
        self.fired.notify_one();
    }

    /// Whether this process injects: always, unless `once` names a file another process
    /// created first.
    fn is_armed(&self) -> bool {
        let Some(file) = &self.faults.once else {
            return true;
        };
        let mut armed = self.armed.lock().expect("fault arm lock");
        *armed.get_or_insert_with(|| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)
                .is_ok()
        })
    }
}

/// Runs `call` as `rule` says, announcing the fault when it takes effect.
async fn apply<T>(
    state: &State,
    rule: Option<Rule>,
    path: &Path,
    call: impl Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    let Some(rule) = rule else {
        return call.await;
    };
    match rule.action {
        Action::Fail => {
            state.fire(&rule);
            Err(injected(rule.operation, path))
        }
        Action::FailAfter => {
            let result = call.await;
            state.fire(&rule);
            result?;
            Err(injected(rule.operation, path))
        }
        Action::Delay(wait) => {
            state.fire(&rule);
            tokio::time::sleep(wait).await;
            call.await
        }
        Action::DelayAfter(wait) => {
            let result = call.await;
            state.fire(&rule);
            tokio::time::sleep(wait).await;
            result
        }
    }
}

fn injected(operation: Operation, path: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected {operation} failure at {path}").into(),
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let operation = Operation::of_put(&opts.mode);
        let call = self.inner.put_opts(location, payload, opts);
        self.counted(operation, location, call).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let call = self.inner.put_multipart_opts(location, opts);
        self.counted(Operation::Put, location, call).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let operation = Operation::of_get(&options);
        let call = self.inner.get_opts(location, options);
        self.counted(operation, location, call).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        let call = self.inner.get_ranges(location, ranges);
        self.counted(Operation::Get, location, call).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Each path is one counted delete of the inner store.
        let (inner, state) = (Arc::clone(&self.inner), Arc::clone(&self.state));
        locations
            .and_then(move |path| {
                let (inner, state) = (Arc::clone(&inner), Arc::clone(&state));
                async move {
                    let rule = state.count(Operation::Delete, &path);
                    apply(&state, rule, &path, inner.delete(&path)).await?;
                    Ok(path)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let path = prefix.cloned().unwrap_or_default();
        let Some(rule) = self.state.count(Operation::List, &path) else {
            return self.inner.list(prefix);
        };
        let (inner, state, prefix) = (
            Arc::clone(&self.inner),
            Arc::clone(&self.state),
            prefix.cloned(),
        );
        futures::stream::once(async move {
            let listing = inner.list(prefix.as_ref()).try_collect::<Vec<_>>();
            apply(&state, Some(rule), &path, listing).await
        })
        .map_ok(|metas| futures::stream::iter(metas.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let root = Path::default();
        let call = self.inner.list_with_delimiter(prefix);
        self.counted(Operation::List, prefix.unwrap_or(&root), call)
            .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let call = self.inner.copy_opts(from, to, options);
        self.counted(Operation::Copy, to, call).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        // The inner store's own rename: atomic on a file system, a copy and a delete on S3.
        let call = self.inner.rename_opts(from, to, options);
        self.counted(Operation::Rename, to, call).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn the_spec_names_what_is_wrong() {
        let faults =
            Faults::parse("path=intermediate/, rename#4=delay:3000,put#1=fail-after").unwrap();
        assert_eq!(faults.path.as_deref(), Some("intermediate/"));
        assert_eq!(
            faults.rules,
            vec![
                Rule {
                    operation: Operation::Rename,
                    nth: 4,
                    action: Action::Delay(Duration::from_millis(3000)),
                },
                Rule {
                    operation: Operation::Put,
                    nth: 1,
                    action: Action::FailAfter,
                },
            ]
        );
        for (bad, says) in [
            ("move#1=fail", "'move' is not an operation"),
            ("put#0=fail", "counts from 1"),
            ("put#1=explode", "actions are"),
            ("put#1=delay:soon", "milliseconds"),
            ("put", "expected <operation>#<n>=<action>"),
        ] {
            let e = Faults::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn the_nth_call_of_an_operation_fails_or_lands() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let faults = Faults::parse("put#2=fail,put#3=fail-after,delete#1=fail").unwrap();
        let store = FaultyStore::new(Arc::clone(&inner), faults);
        let put = |key: &'static str| {
            let path = Path::from(key);
            let store = &store;
            async move { store.put(&path, "x".into()).await }
        };
        put("a").await.unwrap();
        assert!(
            put("b")
                .await
                .unwrap_err()
                .to_string()
                .contains("injected put failure")
        );
        assert!(put("c").await.is_err());
        put("d").await.unwrap();
        assert!(
            inner.head(&Path::from("b")).await.is_err(),
            "a failed put is not done"
        );
        assert!(
            inner.head(&Path::from("c")).await.is_ok(),
            "fail-after puts it"
        );
        assert!(store.delete(&Path::from("a")).await.is_err());
        store.delete(&Path::from("a")).await.unwrap();
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 2);
        let calls = store.calls();
        assert_eq!(
            (
                calls[&Operation::Put],
                calls[&Operation::Delete],
                calls[&Operation::List]
            ),
            (4, 2, 1)
        );
    }

    /// A test that kills a process on the announcement of a `-after` fault must find the
    /// call landed, however long the call itself takes.
    #[tokio::test]
    async fn an_after_fault_fires_once_the_call_landed_and_the_others_before() {
        let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        // The call itself takes a while.
        let slow: Arc<dyn ObjectStore> = Arc::new(FaultyStore::new(
            Arc::clone(&memory),
            Faults::parse("put#1=delay:300,put#2=delay:300").unwrap(),
        ));
        let store = Arc::new(FaultyStore::new(
            slow,
            Faults::parse("put#1=delay-after:60000,put#2=delay:60000").unwrap(),
        ));
        for (key, landed) in [("after", true), ("before", false)] {
            let call = {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.put(&Path::from(key), "x".into()).await })
            };
            store.fired().await;
            assert_eq!(
                memory.head(&Path::from(key)).await.is_ok(),
                landed,
                "{key}: landed when announced"
            );
            call.abort();
        }
    }

    #[tokio::test]
    async fn only_calls_on_the_path_count_and_once_arms_one_store() {
        let dir = tempfile::tempdir().unwrap();
        let once = dir.path().join("fired");
        let spec = format!("path=out/,put#1=fail,once={}", once.display());
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let first = FaultyStore::new(Arc::clone(&inner), Faults::parse(&spec).unwrap());
        let second = FaultyStore::new(Arc::clone(&inner), Faults::parse(&spec).unwrap());
        first.put(&Path::from("in/a"), "x".into()).await.unwrap();
        assert!(first.put(&Path::from("out/a"), "x".into()).await.is_err());
        second.put(&Path::from("out/b"), "x".into()).await.unwrap();
        assert_eq!(first.calls()[&Operation::Put], 1);
    }
}
