//! Live heap bytes: every binary that links these helpers (the suite, the soak) allocates
//! through a counting allocator, so that a test can tell whether memory stays flat
//! without the noise of resident-set figures.

use std::alloc::System;

use cap::Cap;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// Bytes allocated and not yet freed, by the whole process.
pub fn live_bytes() -> usize {
    HEAP.allocated()
}

/// The most bytes the whole process ever had allocated at once.
pub fn peak_bytes() -> usize {
    HEAP.max_allocated()
}

/// Whether this test has its process to itself (cargo-nextest's default), so that the
/// process's heap figures are the test's own; under `cargo test` tests share a process.
pub fn own_process() -> bool {
    std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test")
}
