//! Table tests for the shim's pure policy: the update lock (held while mirroring,
//! bounded, retried when busy) and the watchdog that restarts a hung receiver.

mod shim_common;

use airglass::shim::health::ReceiverState;
use airglass::shim::policy::{Action, ChildExit, Event, LockOutcome, LockPhase, Signal};
use shim_common::table::{config, exited, no_status, play, saying, sig, status, step};

#[test]
fn the_update_lock_follows_mirroring() {
    use ReceiverState::{Idle, Mirroring};
    let state = play(
        "lock while mirroring",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(1.0, status(10, Idle, 1.0, 0), vec![]),
            step(2.0, status(10, Mirroring, 2.0, 0), vec![Action::TakeLock]),
            saying(
                2.0,
                Event::Lock(LockOutcome::Taken),
                vec![],
                "holding the update lock",
            ),
            step(3.0, status(10, Mirroring, 3.0, 500), vec![]),
            saying(
                4.0,
                status(10, Idle, 4.0, 0),
                vec![Action::ReleaseLock],
                "releasing",
            ),
            step(4.0, Event::Lock(LockOutcome::Released), vec![]),
            step(5.0, status(10, Idle, 5.0, 0), vec![]),
            step(6.0, status(10, Mirroring, 6.0, 0), vec![Action::TakeLock]),
            step(6.0, Event::Lock(LockOutcome::Taken), vec![]),
            // A stale status while "mirroring" means a hung receiver: let updates in.
            step(
                7.0,
                status(10, Mirroring, 7.0, 20_000),
                vec![Action::ReleaseLock],
            ),
            step(8.0, status(10, Mirroring, 8.0, 0), vec![Action::TakeLock]),
            step(8.0, Event::Lock(LockOutcome::Taken), vec![]),
            // A status from another pid (an earlier receiver) is not believed.
            step(9.0, status(77, Idle, 9.0, 0), vec![Action::ReleaseLock]),
            step(10.0, status(10, Mirroring, 10.0, 0), vec![Action::TakeLock]),
            step(10.0, Event::Lock(LockOutcome::Taken), vec![]),
            // The receiver dies while mirroring: the lock goes with it.
            step(11.0, exited(10, 70), vec![Action::ReleaseLock]),
        ],
    );
    assert_eq!(state.lock, LockPhase::Free);
}

#[test]
fn the_lock_is_never_held_past_the_bound() {
    use ReceiverState::{Idle, Mirroring};
    play(
        "max lock",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(1.0, status(10, Mirroring, 1.0, 0), vec![Action::TakeLock]),
            step(1.0, Event::Lock(LockOutcome::Taken), vec![]),
            step(100.9, status(10, Mirroring, 100.9, 0), vec![]),
            saying(
                101.0,
                status(10, Mirroring, 101.0, 0),
                vec![Action::ReleaseLock],
                "AIRGLASS_MAX_LOCK_SECONDS",
            ),
            // Same session goes on: not taken again.
            step(150.0, status(10, Mirroring, 150.0, 0), vec![]),
            step(500.0, status(10, Mirroring, 500.0, 0), vec![]),
            // After the session ends, the next one locks again.
            step(501.0, status(10, Idle, 501.0, 0), vec![]),
            step(
                502.0,
                status(10, Mirroring, 502.0, 0),
                vec![Action::TakeLock],
            ),
        ],
    );
}

#[test]
fn a_busy_lock_is_retried_and_reported_once() {
    use ReceiverState::Mirroring;
    play(
        "busy lock",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(1.0, status(10, Mirroring, 1.0, 0), vec![Action::TakeLock]),
            saying(1.0, Event::Lock(LockOutcome::Busy), vec![], "not ours"),
            step(2.0, status(10, Mirroring, 2.0, 0), vec![Action::TakeLock]),
            step(2.0, Event::Lock(LockOutcome::Busy), vec![]),
            step(3.0, status(10, Mirroring, 3.0, 0), vec![Action::TakeLock]),
            step(3.0, Event::Lock(LockOutcome::Taken), vec![]),
            step(4.0, status(10, Mirroring, 4.0, 0), vec![]),
        ],
    );
}

#[test]
fn the_watchdog_restarts_a_hung_receiver() {
    use ReceiverState::{Idle, Starting};
    play(
        "stale status",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(1.0, status(10, Idle, 1.0, 0), vec![]),
            // Unhealthy from 20s on; restarted once that lasted 30s.
            step(20.0, status(10, Idle, 20.0, 15_000), vec![]),
            step(49.0, status(10, Idle, 49.0, 44_000), vec![]),
            saying(
                50.0,
                status(10, Idle, 50.0, 45_000),
                vec![sig(10, Signal::Term)],
                "unresponsive",
            ),
            step(55.0, Event::Tick, vec![sig(10, Signal::Kill)]),
            saying(
                55.1,
                Event::ChildExited {
                    pid: 10,
                    exit: ChildExit::Signaled(9),
                },
                vec![],
                "restarting in 1s",
            ),
            step(56.2, Event::Tick, vec![Action::Spawn]),
        ],
    );
    play(
        "recovers before the watchdog",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(20.0, status(10, Idle, 20.0, 15_000), vec![]),
            step(40.0, status(10, Idle, 40.0, 0), vec![]),
            step(69.0, status(10, Idle, 69.0, 15_000), vec![]),
            step(90.0, status(10, Idle, 90.0, 0), vec![]),
        ],
    );
    play(
        "never writes a status",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            // Inside the start-up grace: fine.
            step(19.0, no_status(19.0), vec![]),
            step(21.0, no_status(21.0), vec![]),
            saying(
                51.0,
                no_status(51.0),
                vec![sig(10, Signal::Term)],
                "status file",
            ),
        ],
    );
    play(
        "stuck starting",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(50.0, status(10, Starting, 50.0, 0), vec![]),
            // since_unix_ms is WALL0: starting for more than 60s from 60.001s on.
            step(61.0, status(10, Starting, 61.0, 0), vec![]),
            saying(
                91.0,
                status(10, Starting, 91.0, 0),
                vec![sig(10, Signal::Term)],
                "starting for",
            ),
        ],
    );
    let mut off = config();
    off.watchdog = None;
    play(
        "watchdog off",
        off,
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(500.0, no_status(500.0), vec![]),
            step(900.0, status(10, Idle, 900.0, 800_000), vec![]),
        ],
    );
}

#[test]
fn a_stop_during_a_watchdog_restart_still_exits() {
    play(
        "stop while recycling",
        config(),
        vec![
            step(
                0.0,
                Event::Started,
                vec![Action::RemoveStaleLock, Action::Spawn],
            ),
            step(0.0, Event::Spawned { pid: 10 }, vec![]),
            step(21.0, no_status(21.0), vec![]),
            step(51.0, no_status(51.0), vec![sig(10, Signal::Term)]),
            step(
                52.0,
                Event::Signal(Signal::Term),
                vec![sig(10, Signal::Term)],
            ),
            step(53.0, exited(10, 143), vec![Action::Exit { code: 143 }]),
        ],
    );
}
