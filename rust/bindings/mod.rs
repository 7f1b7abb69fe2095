//! The `pyactors._core` extension module: thin conversions between Python
//! values and the core.
//!
//! Every core error crosses into Python through `to_py_err`, here and
//! nowhere else, which raises the very classes of `pyactors.errors`, so
//! callers catch the same exceptions whichever implementation they run.
//! - `resources`: the `Resources` class;
//! - `data`: Python values to and from the core's `Data` (the JSON form);
//! - `dict_form`: the dict form of `Resources.from_dict`, checked as
//!   `pyactors/_reference/resources` checks it, so both give the same
//!   messages;
//! - `allocator`: the `Allocator` class, whose cycle releases the GIL.

mod allocator;
mod data;
mod dict_form;
mod resources;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::{Error, ErrorKind};

use allocator::PyAllocator;
use resources::PyResourcesHandle;

/// Converts a core error into the matching exception of `pyactors.errors`.
pub(crate) fn to_py_err(err: Error) -> PyErr {
    let class_name = match err.kind {
        ErrorKind::Resource => "ResourceError",
        ErrorKind::UnknownAgent => "UnknownAgentError",
        ErrorKind::UnknownFramework => "UnknownFrameworkError",
        ErrorKind::Duplicate => "DuplicateError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
    };
    Python::with_gil(|py| {
        let class = py
            .import("pyactors.errors")
            .and_then(|module| module.getattr(class_name))
            .and_then(|class| Ok(class.downcast_into::<PyType>()?));
        match class {
            Ok(class) => PyErr::from_type(class, err.message),
            Err(lookup) => {
                // Only a broken installation gets here; keep both stories.
                let fallback = PyRuntimeError::new_err(format!("{class_name}: {}", err.message));
                fallback.set_cause(py, Some(lookup));
                fallback
            }
        }
    })
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        to_py_err(err)
    }
}

/// Python's repr of a value, or a placeholder if its `__repr__` fails.
pub(crate) fn repr(value: &Bound<'_, PyAny>) -> String {
    match value.repr() {
        Ok(text) => text.to_string(),
        Err(_) => format!("<{} object>", type_name(value)),
    }
}

/// Python's `type(value).__name__`.
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |name| name.to_string())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyResourcesHandle>()?;
    m.add_class::<PyAllocator>()?;
    Ok(())
}
