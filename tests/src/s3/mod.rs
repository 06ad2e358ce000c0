//! An S3-protocol server on loopback for the tests that need S3 itself: the cluster's, the
//! compose file's, and the publication's fault suite.

pub mod memory;
pub mod server;

pub use memory::MemoryS3;
pub use s3s::S3ErrorCode;
pub use server::{S3Server, ServerFault};
