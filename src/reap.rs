//! Dropping large values off the hot path.
//!
//! Freeing a million-record zone version (or the parse of its file) takes a few hundred
//! milliseconds of `free` calls. Whoever happens to hold the last reference would pay
//! that: the task that just published the next version, a transfer that just ended, a
//! reload waiting to answer. Such values are handed to one background thread instead.

use std::sync::OnceLock;
use std::sync::mpsc::{self, Sender};

type Garbage = Box<dyn Send>;

static REAPER: OnceLock<Option<Sender<Garbage>>> = OnceLock::new();

fn reaper() -> Option<&'static Sender<Garbage>> {
    REAPER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Garbage>();
            std::thread::Builder::new()
                .name("reaper".into())
                .spawn(move || {
                    for garbage in rx {
                        drop(garbage);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Drops `value` on the background thread (here, if that thread cannot be started).
pub fn drop_later<T: Send + 'static>(value: T) {
    let boxed: Garbage = Box::new(value);
    match reaper() {
        Some(tx) => {
            // A send fails only if the thread is gone; the value then drops here.
            let _ = tx.send(boxed);
        }
        None => drop(boxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn values_are_dropped_on_another_thread() {
        struct Probe(Arc<std::sync::Mutex<Option<std::thread::ThreadId>>>);
        impl Drop for Probe {
            fn drop(&mut self) {
                if let Ok(mut g) = self.0.lock() {
                    *g = Some(std::thread::current().id());
                }
            }
        }
        let seen = Arc::new(std::sync::Mutex::new(None));
        drop_later(Probe(seen.clone()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(id) = *seen.lock().unwrap() {
                assert_ne!(id, std::thread::current().id());
                break;
            }
            assert!(Instant::now() < deadline, "never dropped");
            std::thread::yield_now();
        }
    }
}
