//! Providers against their emulators: the `aws-iam-access-key` provider on moto.
//!
//! One test binary for these files (each module is one of them), so the harness and
//! keyroll are linked once, not once a file.

mod common;

mod provider_aws;
