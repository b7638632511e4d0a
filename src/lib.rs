//! airglass: an AirPlay screen-mirroring receiver.
//!
//! Layers: [`proto`] is the sans-IO protocol core (no sockets, no clocks, no GStreamer),
//! [`net`] holds the thin tokio shells that feed it bytes, [`media`] the video sinks,
//! [`discovery`] the mDNS registration, and [`app`] wires them together. The built-in
//! [`sender`] plays an iPhone for `--test-stream` and the tests; [`shim`] is the container
//! supervisor behind the `airglass-shim` binary.

pub mod app;
pub mod config;
pub mod discovery;
pub mod identity;
pub mod media;
pub mod net;
pub mod proto;
pub mod sender;
pub mod shim;
