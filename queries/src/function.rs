//! What a statistics function declares: its inputs, its dataset types (each with its
//! output dataset and what it draws), and a pure plan from input tables to an [`Output`].
//! How an output is shaped lives in [`crate::output`].

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::output::Output;

/// One dataset type of a function: its name in events, the output dataset it produces, and
/// its variant: what the function's plan does differently for it, as a value of a type the
/// function chooses ([`Period`] for most, an enum of its own for the rest). The table of a
/// function's types is thus the one place that says how they differ; the plan reads the
/// variant back with [`DatasetType::variant`] and never matches a type's name.
#[derive(Debug, Clone, Copy)]
pub struct DatasetType {
    pub name: &'static str,
    pub output_dataset: &'static str,
    variant: &'static (dyn Any + Send + Sync),
}

impl DatasetType {
    pub const fn new(
        name: &'static str,
        output_dataset: &'static str,
        variant: &'static (dyn Any + Send + Sync),
    ) -> Self {
        Self {
            name,
            output_dataset,
            variant,
        }
    }

    /// This type's variant as the `V` its function declared. A function's plan asks for the
    /// type its own table holds, so an error here is a declaration that disagrees with its
    /// plan (caught by the fixtures test, which plans every type).
    pub fn variant<V: Any>(&self) -> Result<&'static V> {
        self.variant.downcast_ref::<V>().ok_or_else(|| {
            Error::Plan(format!(
                "dataset type {}: its variant is not a {}",
                self.name,
                std::any::type_name::<V>()
            ))
        })
    }
}

/// The period most dataset types differ by: `status` documents show the latest year,
/// `historisk` ones every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Status,
    History,
}

impl Period {
    pub fn is_status(self) -> bool {
        self == Period::Status
    }
}

/// A function: `inputs` as (argument, input dataset id) in declaration order (the order of
/// the original's prefix checks), `types`, and `plan`, which gets the dataset type a
/// [`Target`] resolved (never a name to match).
#[derive(Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    pub inputs: &'static [(&'static str, &'static str)],
    pub types: &'static [DatasetType],
    pub plan: fn(&Inputs, &DatasetType) -> Result<Output>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .finish()
    }
}

impl Function {
    /// The dataset type called `name`, or the error listing the valid ones (docs/deviations.md D3).
    pub fn dataset_type(&self, name: &str) -> Result<&'static DatasetType> {
        self.types
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::UnknownDatasetType {
                function: self.name.into(),
                got: name.into(),
                valid: self.types.iter().map(|t| t.name.to_string()).collect(),
            })
    }

    /// Input dataset ids, in declaration order, without repeats.
    pub fn input_datasets(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = vec![];
        for (_, id) in self.inputs {
            if !ids.contains(id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// What one run computes: a function, one of its dataset types, and the prefix of each of
/// its inputs. [`Target::new`] checks all three, so planning takes a target and checks
/// nothing again.
#[derive(Debug, Clone)]
pub struct Target {
    function: &'static Function,
    dataset_type: &'static DatasetType,
    /// Every input dataset of the function with its prefix, in declaration order.
    input_prefixes: Vec<(&'static str, String)>,
}

impl Target {
    /// The target of `function`'s type `type_name` over `input_prefixes`, which must give
    /// every input of the function a prefix, in declaration order (the event contract's
    /// [`Function::input_datasets`] order), and nothing else.
    pub fn new(
        function: &'static Function,
        type_name: &str,
        input_prefixes: Vec<(&'static str, String)>,
    ) -> Result<Self> {
        let dataset_type = function.dataset_type(type_name)?;
        let given: Vec<&str> = input_prefixes.iter().map(|(id, _)| *id).collect();
        if given != function.input_datasets() {
            return Err(Error::Plan(format!(
                "function {}: inputs {given:?} given, {:?} declared",
                function.name,
                function.input_datasets()
            )));
        }
        Ok(Self {
            function,
            dataset_type,
            input_prefixes,
        })
    }

    pub fn function(&self) -> &'static Function {
        self.function
    }

    pub fn dataset_type(&self) -> &'static DatasetType {
        self.dataset_type
    }

    /// Every input dataset with its prefix, in declaration order.
    pub fn input_prefixes(&self) -> &[(&'static str, String)] {
        &self.input_prefixes
    }
}

/// The typed input tables of one run, by argument name, and where the frames that its
/// function's types have in common are kept ([`Inputs::common`]).
pub struct Inputs {
    tables: HashMap<&'static str, DataFrame>,
    common: Option<CommonPlace>,
}

/// Where a run's common frames are kept, and what names its inputs there.
struct CommonPlace {
    frames: Arc<CommonFrames>,
    function: &'static str,
    objects: Vec<String>,
}

/// A frame the types of one function have in common: the function, the frame's name in it,
/// and the input objects (keys) it was built from.
type CommonKey = (&'static str, &'static str, Vec<String>);

/// The frames the types of a function have in common, built once per session: the types of
/// a function mostly differ at the end of their plans, and building the same frame again for
/// each (DataFusion checks every expression's types at each step) costs as much as the rest
/// of their planning. A session extension
/// (`SessionConfig::with_extension(Arc::new(CommonFrames::default()))`); a session lives for
/// one command, and so do its frames, unless the batch forgets their inputs first
/// ([`CommonFrames::forget_reading`]).
#[derive(Debug, Default)]
pub struct CommonFrames {
    frames: Mutex<HashMap<CommonKey, DataFrame>>,
}

impl CommonFrames {
    /// Forgets the frames built from any of the input objects `keys`, so that what they
    /// hold is freed once no plan uses them. Returns how many were forgotten.
    pub fn forget_reading(&self, keys: &[String]) -> usize {
        let mut frames = self.frames.lock().expect("common frames");
        let before = frames.len();
        frames.retain(|(_, _, objects), _| !objects.iter().any(|o| keys.contains(o)));
        before - frames.len()
    }

    /// How many frames the session holds.
    pub fn len(&self) -> usize {
        self.frames.lock().expect("common frames").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inputs {
    /// The tables of a run of `function` over the input objects `objects` (their keys, in
    /// the function's order); `common` keeps the frames the function's types share.
    pub fn new(
        tables: HashMap<&'static str, DataFrame>,
        function: &'static str,
        objects: Vec<String>,
        common: Option<Arc<CommonFrames>>,
    ) -> Self {
        Self {
            tables,
            common: common.map(|frames| CommonPlace {
                frames,
                function,
                objects,
            }),
        }
    }

    /// The frame `build` makes from these inputs, built once per session for all the types
    /// of the function that ask for it by `name`: a later type gets the first one's frame,
    /// the same plan it would have built itself.
    pub fn common(
        &self,
        name: &'static str,
        build: impl FnOnce() -> Result<DataFrame>,
    ) -> Result<DataFrame> {
        let Some(place) = &self.common else {
            return build();
        };
        let key = (place.function, name, place.objects.clone());
        let frames = &place.frames.frames;
        if let Some(frame) = frames.lock().expect("common frames").get(&key) {
            return Ok(frame.clone());
        }
        // Built outside the lock: two types that ask at once both build it, alike.
        let frame = build()?;
        frames
            .lock()
            .expect("common frames")
            .insert(key, frame.clone());
        Ok(frame)
    }

    /// The table of argument `arg` (a cheap clone of a lazy plan).
    pub fn get(&self, arg: &str) -> Result<DataFrame> {
        self.tables
            .get(arg)
            .cloned()
            .ok_or_else(|| Error::Plan(format!("no input for argument '{arg}'")))
    }
}

/// A function's table of dataset types, a line each:
/// `"name" => "output-dataset", variant;` (the variant as in [`DatasetType`]).
#[macro_export]
macro_rules! dataset_types {
    ($($name:literal => $output:literal, $variant:expr;)+) => {
        &[$($crate::function::DatasetType::new($name, $output, &$variant)),+]
    };
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use datafusion::prelude::SessionContext;

    use super::*;

    fn inputs(objects: &[&str], common: Option<Arc<CommonFrames>>) -> Inputs {
        let objects = objects.iter().map(|o| o.to_string()).collect();
        Inputs::new(HashMap::new(), "f", objects, common)
    }

    /// `name`'s frame of `inputs`, counting the builds.
    fn frame(inputs: &Inputs, name: &'static str, builds: &Cell<usize>) -> DataFrame {
        inputs
            .common(name, || {
                builds.set(builds.get() + 1);
                Ok(SessionContext::new().read_empty()?)
            })
            .unwrap()
    }

    #[test]
    fn a_common_frame_is_built_once_per_name_and_input_objects() {
        let common = Arc::new(CommonFrames::default());
        let builds = Cell::new(0);
        frame(&inputs(&["a.csv"], Some(common.clone())), "x", &builds);
        frame(&inputs(&["a.csv"], Some(common.clone())), "x", &builds);
        assert_eq!(
            builds.get(),
            1,
            "the second type gets the first one's frame"
        );
        frame(&inputs(&["a.csv"], Some(common.clone())), "y", &builds);
        frame(&inputs(&["b.csv"], Some(common.clone())), "x", &builds);
        assert_eq!(
            builds.get(),
            3,
            "another name or other objects: another frame"
        );
        frame(&inputs(&["a.csv"], None), "x", &builds);
        frame(&inputs(&["a.csv"], None), "x", &builds);
        assert_eq!(
            builds.get(),
            5,
            "a session without common frames builds each time"
        );
    }

    #[test]
    fn forgetting_an_object_forgets_the_frames_built_from_it() {
        let common = Arc::new(CommonFrames::default());
        let builds = Cell::new(0);
        frame(
            &inputs(&["a.csv", "b.csv"], Some(common.clone())),
            "x",
            &builds,
        );
        frame(&inputs(&["b.csv"], Some(common.clone())), "x", &builds);
        frame(&inputs(&["c.csv"], Some(common.clone())), "x", &builds);
        assert_eq!(common.forget_reading(&["a.csv".to_string()]), 1);
        assert_eq!(common.forget_reading(&["a.csv".to_string()]), 0);
        frame(&inputs(&["b.csv"], Some(common.clone())), "x", &builds);
        assert_eq!(builds.get(), 3, "a frame of other objects is kept");
        frame(
            &inputs(&["a.csv", "b.csv"], Some(common.clone())),
            "x",
            &builds,
        );
        assert_eq!(
            builds.get(),
            4,
            "a forgotten frame is built again when asked for"
        );
    }
}
