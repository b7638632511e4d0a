//! The sans-IO protocol core.
//!
//! Everything here is pure: bytes and `now` go in, bytes and events come out. Nothing in this
//! module tree may import tokio, open a socket, read a clock or touch GStreamer; `net` and
//! `app` do that and call in here.

pub mod bplist;
pub mod cipher;
pub mod fairplay;
pub mod keys;
pub mod mirror;
pub mod pairing;
pub mod presentation;
pub mod records;
pub mod rtsp;
pub mod session;
pub mod timing;
