//! The SOPS engine against the real `sops` and `age`: interop, edits, strictness, fuzzing and the
//! YAML readers.
//!
//! One test binary for these files (each module is one of them), so the harness and
//! keyroll are linked once, not once a file.

mod common;

mod cli_sops;
mod sops_differential;
mod sops_edits;
mod sops_fuzz;
mod sops_interop;
mod sops_properties;
mod sops_strict;
mod yaml_readers;
