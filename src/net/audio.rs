//! Audio stream sockets (type 96, PROTOCOL.md §6.1–§6.2): the UDP data and control sockets a
//! SETUP opens. This shell receives and counts RTP packets and answers nothing yet; decoding
//! and playback belong to the audio work, which will take the packets from here.

use super::sockets::udp_for_peer;
use crate::proto::session::AudioStreamParams;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinHandle;
use tracing::debug;

/// Open audio sockets; the receive tasks are aborted on drop.
pub struct AudioHandle {
    pub data_port: u16,
    pub control_port: u16,
    /// RTP packets received on the data socket from the client.
    pub packets: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for AudioHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Opens the data and control sockets for a client at `peer`.
pub fn open(peer: IpAddr, params: &AudioStreamParams) -> io::Result<AudioHandle> {
    let data = udp_for_peer(peer)?;
    let control = udp_for_peer(peer)?;
    let data_port = data.local_addr()?.port();
    let control_port = control.local_addr()?.port();
    debug!(
        ct = params.compression,
        spf = params.samples_per_frame,
        data_port,
        control_port,
        "audio sockets open"
    );
    let packets = Arc::new(AtomicU64::new(0));
    let counter = packets.clone();
    let data_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = data.recv_from(&mut buf).await {
            if from.ip() == peer && n >= 12 {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let control_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while control.recv_from(&mut buf).await.is_ok() {}
    });
    Ok(AudioHandle {
        data_port,
        control_port,
        packets,
        tasks: vec![data_task, control_task],
    })
}

impl AudioHandle {
    pub fn packets_received(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }
}
