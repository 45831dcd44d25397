//! Password hashing with argon2id at OWASP's floor (19 MiB, 2 iterations, 1 lane), on a
//! bounded pool: at most `concurrency` hashes run at once (each on a blocking thread) and at
//! most `queue` wait; beyond that the caller gets `Busy` (503), so a login flood cannot
//! starve the rest of the server.
//!
//! Work comes in two classes ([`HashClass`]): sign-ins, and everything else that hashes a new
//! password (registration, password reset, invitation acceptance). The second class gets at
//! most half the pool and a quarter of the queue, so a flood of registrations or resets —
//! which anyone can send — cannot take the hashing that sign-ins need.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OnceCell, Semaphore};

/// Argon2id memory cost in KiB: 19 MiB (19 456 KiB), OWASP's minimum.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id time cost: passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Argon2id parallelism: lanes (one thread per hash).
pub const LANES: u32 = 1;

/// What a hash is for, which decides the share of the pool it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashClass {
    /// Checking a password at sign-in: may use the whole pool.
    Login,
    /// Hashing a new password (registration, reset, invitation): at most half the pool
    /// (at least one slot) and a quarter of the queue (at least one waiter).
    Bulk,
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the queue (`auth.hash_queue`) is full: the caller is refused
    /// rather than made to wait. Handlers answer 503 with `Retry-After: 1`.
    #[error("too many password checks are waiting")]
    Busy,
    /// Hashing failed or its blocking task died (the text says why). Handlers answer 500.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and checks passwords with argon2id (version 0x13, [`MEMORY_KIB`], [`ITERATIONS`],
/// [`LANES`], a fresh random salt per hash) on blocking threads, a bounded number at once; callers
/// beyond the queue get [`HashError::Busy`].
pub struct PasswordService {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    bulk_permits: Arc<Semaphore>,
    bulk_waiting: AtomicUsize,
    bulk_max_waiting: usize,
    dummy_hash: OnceCell<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .unwrap_or_else(|_| unreachable!("constant argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A slot of `permits`, waiting behind at most `max_waiting` others (counted in `waiting`);
/// [`HashError::Busy`] at once when the queue is full.
async fn slot(
    permits: &Arc<Semaphore>,
    waiting: &AtomicUsize,
    max_waiting: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, HashError> {
    if waiting.fetch_add(1, Ordering::AcqRel) >= max_waiting + permits.available_permits() {
        waiting.fetch_sub(1, Ordering::AcqRel);
        metrics::counter!(crate::metric_names::PASSWORD_HASH_REJECTED_TOTAL).increment(1);
        return Err(HashError::Busy);
    }
    let permit = permits.clone().acquire_owned().await;
    waiting.fetch_sub(1, Ordering::AcqRel);
    permit.map_err(|_| HashError::Failed("hash pool closed".into()))
}

impl PasswordService {
    /// A pool running `concurrency` hashes at once (0: one per CPU, or 2 when that is unknown;
    /// `auth.hash_concurrency`) with room for about `max_waiting` callers waiting for a slot
    /// (`auth.hash_queue`).
    pub fn new(concurrency: usize, max_waiting: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        } else {
            concurrency
        };
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            bulk_permits: Arc::new(Semaphore::new((concurrency / 2).max(1))),
            bulk_waiting: AtomicUsize::new(0),
            bulk_max_waiting: (max_waiting / 4).max(1),
            dummy_hash: OnceCell::new(),
        }
    }

    /// Runs `work` in `class`: bulk work first takes one of its own slots (refused with
    /// [`HashError::Busy`] when those and their queue are full), then a pool slot.
    async fn run_in<T: Send + 'static>(
        &self,
        class: HashClass,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let label = if class == HashClass::Login { "login" } else { "bulk" };
        metrics::counter!(crate::metric_names::PASSWORD_HASHES_TOTAL, "class" => label)
            .increment(1);
        if class == HashClass::Login {
            return self.run(work).await;
        }
        let _bulk = slot(&self.bulk_permits, &self.bulk_waiting, self.bulk_max_waiting).await?;
        self.run(work).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = slot(&self.permits, &self.waiting, self.max_waiting).await?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|error| HashError::Failed(error.to_string()))?;
        Ok(result)
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh random salt, hashed as
    /// sign-in work (see [`PasswordService::hash_in`] for new passwords).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.hash_in(HashClass::Login, password).await
    }

    /// [`PasswordService::hash`] in `class`'s share of the pool.
    pub async fn hash_in(&self, class: HashClass, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run_in(class, move || {
            argon2()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| HashError::Failed(error.to_string()))
        })
        .await?
    }

    /// Whether `password` matches the stored PHC string (compared in constant time by argon2).
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool, HashError> {
        let password = password.to_owned();
        let stored = stored.to_owned();
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else { return false };
            argon2().verify_password(password.as_bytes(), &parsed).is_ok()
        })
        .await
    }

    /// Spends the same work as a real check, for logins of unknown accounts, so response time
    /// does not tell whether an account exists.
    pub async fn verify_nothing(&self, password: &str) -> Result<(), HashError> {
        let dummy = self
            .dummy_hash
            .get_or_try_init(|| async { self.hash("a password nobody has, to spend time").await })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_the_owasp_parameters_and_verifies() {
        let service = PasswordService::new(1, 4);
        let hash = service.hash("correct horse battery staple").await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(service.verify("correct horse battery staple", &hash).await.expect("verify"));
        assert!(!service.verify("Correct horse battery staple", &hash).await.expect("verify"));
        assert!(!service.verify("anything", "not a phc string").await.expect("verify"));
        let again = service.hash("correct horse battery staple").await.expect("hash");
        assert_ne!(hash, again, "salts differ");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_rather_than_waited_on() {
        let service = Arc::new(PasswordService::new(1, 0));
        let busy = service.clone();
        let first = tokio::spawn(async move { busy.hash("first password here").await });
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = service.hash("second password here").await;
        assert!(matches!(second, Err(HashError::Busy)), "{second:?}");
        assert!(first.await.expect("join").is_ok());
    }

    #[tokio::test]
    async fn a_flood_of_new_passwords_leaves_sign_ins_their_share() {
        // Two slots, queue of eight: bulk work gets one slot and two waiters.
        let service = Arc::new(PasswordService::new(2, 8));
        let stored = service.hash("the owner's password").await.expect("hash");
        let flood: Vec<_> = (0..12)
            .map(|i| {
                let service = service.clone();
                tokio::spawn(async move {
                    service.hash_in(HashClass::Bulk, &format!("bogus {i}")).await
                })
            })
            .collect();
        // Every bulk task has reached the pool (admitted or refused) before the sign-in.
        tokio::task::yield_now().await;
        let signed_in = service.verify("the owner's password", &stored).await;
        assert!(matches!(signed_in, Ok(true)), "the sign-in was not refused: {signed_in:?}");
        let mut refused = 0;
        for task in flood {
            match task.await.expect("task") {
                Err(HashError::Busy) => refused += 1,
                Ok(_) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert!(refused >= 12 - 3, "at most one running and two waiting: {refused} refused");
    }
}
