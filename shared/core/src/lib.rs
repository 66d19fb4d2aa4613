//! The Bufdir export service without any storage: the domain (jobs, the
//! transition table, requests, activities, report profiles), the ports
//! the services need from the outside world, the services themselves, and
//! the HTTP API that serves them. Adapters live in their own crates.

pub mod backoff;
pub mod domain;
pub mod helper_thread;
pub mod http;
pub mod ports;
pub mod request_scope;
pub mod service;
