//! Shared support for the end-to-end tests lives in `it/support.rs`; this library target is empty on purpose
//! so the package has a home in the workspace.
