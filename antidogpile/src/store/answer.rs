//! How a store answers: at once, or later; and how its caller waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::error::StoreError;

/// How the caller of a store operation waits for its [`Answer`]: the one
/// thing the blocking and the async paths of the cache tell a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wait {
    /// A blocking caller (a plain `fn`, the blocking client): the store may
    /// block this thread on its I/O; the answer is waited for with
    /// [`Answer::wait`].
    Blocking,
    /// An `async` caller on a tokio runtime: the store must not block the
    /// thread; its answer is awaited.
    Async,
}

/// A boxed future, as [`Answer::later`] takes.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a store operation answers: a result ready at once (an in-process
/// store: no allocation, no executor) or a future (a store doing I/O).
///
/// An `Answer` is a future; a blocking caller [`wait`](Answer::wait)s for it.
///
/// ```
/// use antidogpile::store::StoreError;
/// use antidogpile::custom_store::Answer;
///
/// let now: Answer<'_, u32> = Answer::ready(Ok(7));
/// assert_eq!(now.wait()?, 7);
/// let later: Answer<'_, u32> = Answer::later(async { Ok(8) });
/// assert_eq!(later.wait()?, 8);
/// # Ok::<(), StoreError>(())
/// ```
#[must_use = "an Answer does nothing until it is waited for or awaited"]
pub struct Answer<'a, T>(State<'a, T>);

enum State<'a, T> {
    Ready(Option<Result<T, StoreError>>),
    Later(BoxFuture<'a, Result<T, StoreError>>),
}

impl<'a, T> Answer<'a, T> {
    /// An answer known at once.
    pub fn ready(result: Result<T, StoreError>) -> Answer<'a, T> {
        Answer(State::Ready(Some(result)))
    }

    /// An answer a future gives. With [`Wait::Blocking`] the future may
    /// block its thread when polled (it is polled on the caller's thread);
    /// with [`Wait::Async`] it must not.
    pub fn later(future: impl Future<Output = Result<T, StoreError>> + Send + 'a) -> Answer<'a, T> {
        Answer(State::Later(Box::pin(future)))
    }

    /// `future` as the answer to a caller that waits as `wait` says: run to
    /// its end here for a blocking caller (its I/O blocks, so it is done at
    /// the first poll), handed over as a future to an async one.
    pub(crate) fn for_caller(
        wait: Wait,
        future: impl Future<Output = Result<T, StoreError>> + Send + 'a,
    ) -> Answer<'a, T> {
        match wait {
            Wait::Blocking => Answer::ready(block_on(future)),
            Wait::Async => Answer::later(future),
        }
    }

    /// The result, blocking this thread until it is known.
    pub fn wait(self) -> Result<T, StoreError> {
        match self.0 {
            State::Ready(result) => result.unwrap_or_else(|| Err(polled_twice())),
            State::Later(future) => block_on(future),
        }
    }
}

impl<T> std::fmt::Debug for Answer<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            State::Ready(Some(_)) => "Answer(ready)",
            State::Ready(None) => "Answer(taken)",
            State::Later(_) => "Answer(later)",
        })
    }
}

// No structural pinning: a ready result is moved out, never pinned, and a
// future is pinned in its own box.
impl<T> Unpin for Answer<'_, T> {}

impl<T> Future for Answer<'_, T> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        // Both states are Unpin (an Option, a Pin<Box>).
        match &mut self.get_mut().0 {
            State::Ready(result) => {
                Poll::Ready(result.take().unwrap_or_else(|| Err(polled_twice())))
            }
            State::Later(future) => future.as_mut().poll(context),
        }
    }
}

fn polled_twice() -> StoreError {
    StoreError::new(
        crate::error::StoreErrorKind::Other,
        "a store answer was polled after it completed",
    )
}

/// Wakes a thread parked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to its end on this thread. Blocking I/O completes at the
/// first poll; a future that is woken by another thread parks this one
/// until then, never spins.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    // The common case first: no waker to allocate.
    if let Poll::Ready(output) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return output;
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_woken_by_another_thread_is_waited_for_without_spinning() {
        let (sender, receiver) = std::sync::mpsc::channel::<u32>();
        let answer: Answer<'_, u32> = Answer::later(async move {
            // A future that is pending until another thread sends.
            let receiver = std::sync::Mutex::new(receiver);
            std::future::poll_fn(|context| match receiver.lock().unwrap().try_recv() {
                Ok(value) => Poll::Ready(Ok(value)),
                Err(_) => {
                    let waker = context.waker().clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        waker.wake();
                    });
                    Poll::Pending
                }
            })
            .await
        });
        std::thread::spawn(move || sender.send(42).unwrap());
        assert_eq!(answer.wait().unwrap(), 42);
    }

    #[test]
    fn a_ready_answer_polled_twice_is_an_error_not_a_panic() {
        let mut answer: Answer<'_, u32> = Answer::ready(Ok(1));
        let mut context = Context::from_waker(Waker::noop());
        assert!(matches!(
            Pin::new(&mut answer).poll(&mut context),
            Poll::Ready(Ok(1))
        ));
        assert!(matches!(
            Pin::new(&mut answer).poll(&mut context),
            Poll::Ready(Err(_))
        ));
    }
}
