//! The Lambda adapter. A pipeline event arrives through the Lambda Runtime API; the shim
//! hands it to the engine the environment names (a Ballista scheduler, or this process) and
//! answers with the step output, or with an invocation error whose `errorType` is the
//! error's stable kind. No data passes through here: with a scheduler, the shim lists the
//! bucket and reads the inputs' headers to plan, and the executors do the rest.

mod config;
mod invocation;

pub use config::{ConfigError, ShimConfig};
pub use invocation::{InvocationError, handle};
