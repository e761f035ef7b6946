//! valley's errors as the Python exception `valley.ValleyError`, carrying valley's message
//! and the messages of its causes.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;

create_exception!(valley, ValleyError, PyException, "An error reported by valley; the message is valley's own.");

/// `error: cause: cause…`, each cause once (valley's top-level messages sometimes repeat
/// their source, as in `#[error(transparent)]`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// Any of valley's errors as a [`ValleyError`].
pub fn valley_err<E: std::error::Error>(e: E) -> PyErr {
    ValleyError::new_err(chain(&e))
}

/// A [`ValleyError`] with a message of the bindings' own (bad arguments).
pub fn fail(msg: impl Into<String>) -> PyErr {
    ValleyError::new_err(msg.into())
}
