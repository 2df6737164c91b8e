//! Retries with backoff for calls to other services (alert channels, registries): honours
//! `Retry-After`, backs off exponentially on server and connection errors, gives up at once
//! on errors another try would repeat.

use std::time::Duration;

use crate::settings::DeliveryConfig;

/// The result of one delivery attempt.
#[derive(Debug)]
pub enum Attempt<T = ()> {
    Done(T),
    /// Worth another try: after `after` (a `Retry-After`) or the backoff.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Another try would fail the same way (a 4xx other than 429, a permanent SMTP error).
    Fail(String),
}

/// Why the retries ended without a result. The reasons are the attempts' own words (`HTTP 400
/// Bad Request: …`, `SMTP host:25: …`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    /// Another try would fail the same way.
    #[error("{0}")]
    Failed(String),
    /// Every attempt was used; `reason` is the last one's.
    #[error("gave up after {attempts} attempts: {reason}")]
    GaveUp { attempts: u32, reason: String },
    /// The service asked for a wait longer than [`MAX_RETRY_AFTER`]: the next run tries again.
    #[error("{reason}; asked to retry after {}s, left for the next run", .after.as_secs())]
    Deferred { reason: String, after: Duration },
}

/// The HTTP client could not be built (no TLS backend, a bad system certificate store).
#[derive(Debug, thiserror::Error)]
#[error("cannot build an HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// A `Retry-After` longer than this is not waited for within the run; the next run retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Runs `attempt` until it is done, fails for good, or `max_attempts` are used. Backoff doubles
/// from `backoff` up to `backoff_max`; a `Retry-After` replaces it.
pub async fn with_retries<T, F, Fut>(policy: DeliveryConfig, mut attempt: F) -> Result<T, RetryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut backoff = policy.backoff;
    for n in 1..=policy.max_attempts {
        match attempt().await {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fail(reason) => return Err(RetryError::Failed(reason)),
            Attempt::Retry { reason, .. } if n == policy.max_attempts => {
                return Err(RetryError::GaveUp { attempts: n, reason });
            }
            Attempt::Retry {
                after: Some(after),
                reason,
            } if after > MAX_RETRY_AFTER => {
                return Err(RetryError::Deferred { reason, after });
            }
            Attempt::Retry { after, .. } => {
                tokio::time::sleep(after.unwrap_or(backoff)).await;
                backoff = (backoff * 2).min(policy.backoff_max);
            }
        }
    }
    unreachable!("max_attempts is at least 1")
}

/// The HTTP client for other services: a whole-request timeout and driftwatch's user agent.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const POLICY: DeliveryConfig = DeliveryConfig {
        timeout: Duration::from_secs(10),
        max_attempts: 5,
        backoff: Duration::from_secs(1),
        backoff_max: Duration::from_secs(4),
    };

    /// Runs `with_retries` over scripted attempts; returns (result, attempts made, virtual time).
    async fn script(mut steps: Vec<Attempt<()>>) -> (Result<(), RetryError>, u32, Duration) {
        steps.reverse();
        let steps = std::sync::Mutex::new(steps);
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let result = with_retries(POLICY, || {
            calls.fetch_add(1, Ordering::SeqCst);
            let next = steps.lock().unwrap().pop().unwrap_or(Attempt::Done(()));
            async move { next }
        })
        .await;
        (result, calls.load(Ordering::SeqCst), start.elapsed())
    }

    fn retry(after: Option<u64>) -> Attempt<()> {
        Attempt::Retry {
            after: after.map(Duration::from_secs),
            reason: "HTTP 500".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let (result, calls, waited) = script(vec![retry(Some(7))]).await;
        assert_eq!((result, calls, waited), (Ok(()), 2, Duration::from_secs(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_back_off_exponentially_up_to_the_cap_then_give_up() {
        let (result, calls, waited) =
            script(vec![retry(None), retry(None), retry(None), retry(None), retry(None)]).await;
        assert_eq!(calls, 5);
        assert_eq!(
            waited,
            Duration::from_secs(1 + 2 + 4 + 4),
            "doubling, capped at backoff_max"
        );
        assert_eq!(
            result.unwrap_err(),
            RetryError::GaveUp {
                attempts: 5,
                reason: "HTTP 500".into()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_are_not_retried() {
        let (result, calls, waited) = script(vec![Attempt::Fail("HTTP 400 Bad Request: invalid_blocks".into())]).await;
        assert_eq!((calls, waited), (1, Duration::ZERO));
        assert_eq!(result.unwrap_err().to_string(), "HTTP 400 Bad Request: invalid_blocks");
    }

    #[tokio::test(start_paused = true)]
    async fn a_very_long_retry_after_is_left_for_the_next_run() {
        let (result, calls, waited) = script(vec![retry(Some(3600))]).await;
        assert_eq!((calls, waited), (1, Duration::ZERO));
        assert!(result.unwrap_err().to_string().contains("left for the next run"));
    }
}
