//! Polling helper: wait until a condition holds, with a timeout that explains itself.

use std::time::{Duration, Instant};

use crate::HarnessError;

/// Calls `f` every `poll` until it returns `Ok(Some(value))`, and returns that value.
///
/// `Ok(None)` means "not yet". An `Err` is treated as transient (the thing polled may not be up
/// yet): it is remembered and polling goes on. `f` is always called at least once, and once more
/// at the deadline. When `timeout` has elapsed the result is [`HarnessError::Timeout`], whose
/// message reads "timed out after Ns waiting for `what`", followed by the last error if any.
///
/// To stop early on a fatal condition, make `T` a `Result` and return `Ok(Some(Err(..)))`.
///
/// This blocks the calling thread (it sleeps between polls).
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut f: impl FnMut() -> Result<Option<T>, HarnessError>,
) -> Result<T, HarnessError> {
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match f() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e.to_string()),
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(HarnessError::Timeout { what: what.to_string(), timeout, last_error });
        }
        std::thread::sleep(poll.min(timeout - elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_ready() {
        let mut n = 0;
        let v =
            wait_until("n to reach 3", Duration::from_secs(5), Duration::from_millis(1), || {
                n += 1;
                Ok((n >= 3).then_some(n))
            })
            .unwrap();
        assert_eq!(v, 3);
    }

    #[test]
    fn timeout_says_what_was_awaited_and_the_last_error() {
        let mut n = 0;
        let err = wait_until::<()>(
            "the moon",
            Duration::from_millis(50),
            Duration::from_millis(5),
            || {
                n += 1;
                if n % 2 == 0 {
                    Err(HarnessError::Other(format!("attempt {n} failed")))
                } else {
                    Ok(None)
                }
            },
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("timed out after 0.05s waiting for the moon; last error: attempt "),
            "{msg}"
        );
        assert!(n >= 2);

        let err =
            wait_until::<()>("the sun", Duration::from_secs(0), Duration::from_millis(1), || {
                Ok(None)
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "timed out after 0s waiting for the sun");
    }

    #[test]
    fn harness_error_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<HarnessError>();
    }
}
