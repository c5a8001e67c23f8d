//! Collects several compile errors so that one run of the macro reports every
//! mistake it can see, not just the first.

/// An accumulator of `syn::Error`s, combined with `syn::Error::combine`.
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    /// Records `error`, after any recorded before it.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    /// Records the error of `result`, if any, and returns its value otherwise.
    pub(crate) fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// `Ok(())` when nothing was recorded, else every recorded error at once.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.first.map_or(Ok(()), Err)
    }
}
