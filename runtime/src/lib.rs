//! The generic pgbisync engine. It knows PostgreSQL and no table by name: every table arrives as a
//! generated [`codec::TableCodec`] described by a [`spec::TableSpec`].

pub mod bootstrap;
pub mod cli;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod connect;
pub mod demo;
pub mod engine;
pub mod error;
pub mod lock;
pub mod metadata;
pub mod pipeline;
pub mod program;
pub mod progress;
pub mod sample;
pub mod schema_check;
pub mod spec;
pub mod sql;
pub mod status;
pub mod tenant;
mod tls;
pub mod verify;
pub mod watermark;
pub mod wire;
