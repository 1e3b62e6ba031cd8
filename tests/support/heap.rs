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
