//! Thin tokio shells around the protocol core: they own sockets and timers, feed bytes to
//! `proto`, and act on what it returns. No protocol decisions are made here.

pub mod audio;
pub mod control;
pub mod mirror;
pub mod sockets;
pub mod timing;
