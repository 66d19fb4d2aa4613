//! What the test suites of the workspace share: a moto server for the AWS
//! adapters, started once per test binary, and clients pointed at it.

pub mod moto;
