//! Third-party HTTP servers started on fresh ports for interop tests.
