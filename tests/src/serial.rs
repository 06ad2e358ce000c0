//! Which tests of one test binary may run at the same time. Each crate has one integration
//! test binary, and libtest runs its tests on parallel threads (as many as there are cores),
//! where one binary per file used to run the files one after the other. Some tests must not
//! meet: the ones that load the machine (a Ballista cluster, all 84 outputs, CLI processes)
//! would make the ones that assert on time (a lease of 150 ms, a 100 ms wait against an
//! 800 ms holder, request timeouts) fail on a 2-core machine, and a test that sets
//! environment variables must be alone in its process (`std::env::set_var` while another
//! thread reads the environment is undefined behaviour).
//!
//! A test takes a guard first, before its own clocks start, and holds it to its end:
//! [`exclusive`] runs with no other guarded test, [`shared`] alongside other `shared` ones.
//! Tests without a guard (single embedded runs) run alongside anything. The lock is per
//! process, so each test binary has its own. A tokio lock, because most tests hold it
//! across `.await`; a panicking test releases it on unwinding (tokio's lock has no poison).

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static LOCK: RwLock<()> = RwLock::const_new(());

/// Waits until no other guarded test runs, and keeps them out while the guard lives.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    LOCK.write().await
}

/// Waits until no [`exclusive`] test runs, and keeps those out while the guard lives.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    LOCK.read().await
}

/// [`exclusive`] for a test that is no async fn (call it outside any runtime).
pub fn exclusive_blocking() -> RwLockWriteGuard<'static, ()> {
    LOCK.blocking_write()
}

/// [`shared`] for a test that is no async fn (call it outside any runtime).
pub fn shared_blocking() -> RwLockReadGuard<'static, ()> {
    LOCK.blocking_read()
}
