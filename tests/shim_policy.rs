//! Table tests for the shim's pure policy, `next(state, event, now) -> actions`:
//! the receiver's life (spawn, crash, back off, halt, stop). Each case is a script
//! of (seconds since start, event) with the actions expected at each step.

mod shim_common;

use std::time::{Duration, Instant};

use airglass::shim::policy::{Action, ChildExit, Event, Phase, ShimState, Signal, describe, next};
use shim_common::table::{config, exited, play, saying, sig, step};

#[test]
fn crash_loop_backs_off_exponentially_up_to_the_cap() {
    use Action::Spawn;
    let state = play(
        "crash loop",
        config(),
        vec![
            step(0.0, Event::Started, vec![Action::RemoveStaleLock, Spawn]),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            saying(0.5, exited(10, 70), vec![], "restarting in 1s"),
            step(1.0, Event::Tick, vec![]),
            step(1.5, Event::Tick, vec![Spawn]),
            step(1.5, Event::Spawned { pid: 11 }, vec![]),
            saying(2.0, exited(11, 69), vec![], "restarting in 2s"),
            step(3.9, Event::Tick, vec![]),
            step(4.0, Event::Tick, vec![Spawn]),
            step(4.0, Event::Spawned { pid: 12 }, vec![]),
            saying(
                4.0,
                Event::ChildExited {
                    pid: 12,
                    exit: ChildExit::Signaled(11),
                },
                vec![],
                "restarting in 4s",
            ),
            step(8.0, Event::Tick, vec![Spawn]),
            step(8.0, Event::Spawned { pid: 13 }, vec![]),
            saying(8.0, exited(13, 1), vec![], "restarting in 8s"),
            step(16.0, Event::Tick, vec![Spawn]),
            step(16.0, Event::Spawned { pid: 14 }, vec![]),
            // Capped: 16s would be next without the cap.
            saying(16.0, exited(14, 70), vec![], "restarting in 8s"),
            step(24.0, Event::Tick, vec![Spawn]),
            step(24.0, Event::Spawned { pid: 15 }, vec![]),
            // A run longer than `healthy_run` resets the backoff.
            saying(90.0, exited(15, 70), vec![], "restarting in 1s (failure 1)"),
        ],
    );
    assert_eq!(state.failures, 1);
    assert_eq!(state.last_status, Some(70));
}

#[test]
fn configuration_and_usage_errors_stop_the_restarts() {
    for code in [78, 2] {
        let state = play(
            "config error",
            config(),
            vec![
                step(
                    0.0,
                    Event::Started,
                    vec![Action::RemoveStaleLock, Action::Spawn],
                ),
                step(0.0, Event::Spawned { pid: 10 }, vec![]),
                saying(0.1, exited(10, code), vec![], "not restarting"),
                step(100.0, Event::Tick, vec![]),
                step(1000.0, Event::Tick, vec![]),
                // A stop signal ends the shim with the receiver's status.
                step(
                    1001.0,
                    Event::Signal(Signal::Term),
                    vec![Action::Exit { code }],
                ),
            ],
        );
        assert_eq!(state.phase, Phase::Exited { code });
    }
}

#[test]
fn a_missing_program_halts_without_retrying() {
    play(
        "missing program",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            saying(
                0.0,
                Event::SpawnFailed {
                    missing: true,
                    reason: "airglass: not found".into(),
                },
                vec![],
                "not retrying",
            ),
            step(60.0, Event::Tick, vec![]),
            step(
                61.0,
                Event::Signal(Signal::Int),
                vec![Action::Exit { code: 0 }],
            ),
        ],
    );
    play(
        "other spawn failure",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            saying(
                0.0,
                Event::SpawnFailed {
                    missing: false,
                    reason: "EAGAIN".into(),
                },
                vec![],
                "retrying in 1s",
            ),
            step(1.0, Event::Tick, vec![Action::Spawn]),
        ],
    );
}

#[test]
fn stop_signals_are_forwarded_then_escalated_and_the_child_status_is_kept() {
    play(
        "term forwarded, child obeys",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(
                3.0,
                Event::Signal(Signal::Term),
                vec![sig(10, Signal::Term)],
            ),
            step(4.0, exited(10, 42), vec![Action::Exit { code: 42 }]),
            // Nothing happens after the exit.
            step(5.0, Event::Tick, vec![]),
        ],
    );
    play(
        "int forwarded, child ignores it",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(1.0, Event::Signal(Signal::Int), vec![sig(10, Signal::Int)]),
            // A second stop signal is passed on too.
            step(
                2.0,
                Event::Signal(Signal::Term),
                vec![sig(10, Signal::Term)],
            ),
            step(5.9, Event::Tick, vec![]),
            saying(6.0, Event::Tick, vec![sig(10, Signal::Kill)], "killing"),
            step(7.0, Event::Tick, vec![]),
            step(
                7.0,
                Event::ChildExited {
                    pid: 10,
                    exit: ChildExit::Signaled(9),
                },
                vec![Action::Exit { code: 137 }],
            ),
        ],
    );
    play(
        "other signals pass through",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(1.0, Event::Signal(Signal::Hup), vec![sig(10, Signal::Hup)]),
            step(
                1.0,
                Event::Signal(Signal::Usr1),
                vec![sig(10, Signal::Usr1)],
            ),
            // An exit of some other process (an orphan) is not the receiver's.
            step(2.0, exited(99, 1), vec![]),
        ],
    );
    play(
        "stop while backing off",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(0.1, exited(10, 70), vec![]),
            step(
                0.2,
                Event::Signal(Signal::Term),
                vec![Action::Exit { code: 70 }],
            ),
            step(2.0, Event::Tick, vec![]),
        ],
    );
}

#[test]
fn a_clean_unasked_exit_ends_the_shim() {
    play(
        "clean exit",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(9.0, exited(10, 0), vec![Action::Exit { code: 0 }]),
        ],
    );
}

#[test]
fn the_deadline_names_the_next_timer() {
    let t0 = Instant::now();
    let mut state = ShimState::new(config());
    assert_eq!(state.deadline(), None);
    next(&mut state, Event::Started, t0);
    next(&mut state, Event::Spawned { pid: 3 }, t0);
    assert_eq!(state.deadline(), None);
    next(&mut state, exited(3, 70), t0);
    assert_eq!(state.deadline(), Some(t0 + Duration::from_secs(1)));
    next(&mut state, Event::Tick, t0 + Duration::from_secs(1));
    next(
        &mut state,
        Event::Spawned { pid: 4 },
        t0 + Duration::from_secs(1),
    );
    next(
        &mut state,
        Event::Signal(Signal::Term),
        t0 + Duration::from_secs(2),
    );
    assert_eq!(state.deadline(), Some(t0 + Duration::from_secs(7)));
    assert_eq!(state.child_pid(), Some(4));
}

#[test]
fn durations_read_well_in_logs() {
    let cases = [
        (Duration::from_millis(150), "150ms"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_secs(2), "2s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(120), "2m"),
        (Duration::from_secs(4 * 3600), "4h"),
        (Duration::from_secs(3600 + 1800), "1h30m"),
    ];
    for (duration, text) in cases {
        assert_eq!(describe(duration), text);
    }
}
