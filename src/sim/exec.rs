//! A tiny executor for the simulator: driver calls are futures polled by hand, one port
//! operation per poll, so the scheduler decides how the calls of concurrent orchestrator
//! instances interleave — and can drop a future between two operations (a crash).
//!
//! The simulated ports never block: each one first returns `Pending` once ([`yield_now`]),
//! which hands control back to the scheduler, then completes on the next poll. No runtime,
//! no timers, no wakers: the scheduler polls whichever task it picks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Returns `Pending` exactly once: the point where a simulated port call can be delayed,
/// interleaved with others, or never made (the caller crashed).
pub(crate) fn yield_now() -> YieldNow {
    YieldNow(false)
}

pub(crate) struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// What a finished task reports: text that came out of the driver (verdicts, errors), which
/// the checker searches for leaked secret values (I5).
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = String>>>;

/// Polls a task once. `Some(text)` when it finished.
pub(crate) fn poll_once(task: &mut TaskFuture) -> Option<String> {
    let mut cx = Context::from_waker(Waker::noop());
    match task.as_mut().poll(&mut cx) {
        Poll::Ready(text) => Some(text),
        Poll::Pending => None,
    }
}

/// Runs a future that must not wait on anything (an in-memory port used directly by the
/// simulated world, outside any task).
pub(crate) fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory port call waited; the simulator's world must be synchronous"),
    }
}
