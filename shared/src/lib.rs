//! Bufdir export orchestrator: the domain, its ports, the services that
//! use them, the report writer, and the adapters that plug storage in.

pub mod adapters;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ports;
pub mod report;
pub mod service;
pub mod workflow;
