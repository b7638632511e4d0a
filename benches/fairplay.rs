//! Time of the FairPlay steps a receiver runs per session: both fp-setup replies and the
//! `ekey` decryption (PROTOCOL.md §10.1 capture as input).

use airglass::proto::fairplay::{decrypt_key, setup_reply, stage1_request};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

const KEYMSG: &str = concat!(
    "46504c590301030000000098008f1a9cd8a4f6346d147806c2bd8a4bd1b993d3c36aa1012498f94efff3467bcf1b",
    "3198625ca2458e3ed01edd35e729357df94b80cd0ace2354d68ce37f5e18f0cfd26d4167153fc0b43623166f08c66f",
    "d301380eb09e9f8de83bd2aec7a401f1fbbdf32e0ad551e8793fe7c119233399a5354cc543071ebccee0ac8522ae1b",
    "ab33d441c478f563cefd4275fb555a3ae33ad8b9f994f9b5"
);
const EKEY: &str = concat!(
    "46504c59010201000000003c000000003f7946bb03f875f3534869cdf5d5ff110000001018930d69e083b7801",
    "51de148d770dcb5396e47b8e7c5661613d5234aec560f107e050fd3"
);

fn bench_fairplay(c: &mut Criterion) {
    let keymsg = hex::decode(KEYMSG).unwrap_or_default();
    let ekey = hex::decode(EKEY).unwrap_or_default();
    // Refuse to time a wrong answer.
    let key = decrypt_key(&keymsg, &ekey).map(hex::encode);
    assert_eq!(key.as_deref(), Ok("335c0da6c20d3ab07c3e8338589c7dd6"));

    c.bench_function("fairplay_decrypt_key", |b| {
        b.iter(|| decrypt_key(black_box(&keymsg), black_box(&ekey)))
    });
    let stage1 = stage1_request(3).unwrap_or_default();
    c.bench_function("fairplay_setup_reply_stage1", |b| {
        b.iter(|| setup_reply(black_box(&stage1)))
    });
    c.bench_function("fairplay_setup_reply_stage2", |b| {
        b.iter(|| setup_reply(black_box(&keymsg)))
    });
}

criterion_group!(benches, bench_fairplay);
criterion_main!(benches);
