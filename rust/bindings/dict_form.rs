//! The dict form of `Resources.from_dict`: keys in the text syntax, values
//! as text, numbers, lists of `[begin, end]` pairs or lists of strings. The
//! checks follow `pyactors/_reference/resources` one by one, so that both
//! implementations give the same messages, reprs of Python values included.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::error::Error;
use crate::resources::{
    in_context, parse_value_text, ranges_from_pairs, scalar_from_f64, scalar_from_units,
    set_from_items, Key, Resources, Value,
};

use super::{repr, to_py_err, type_name};

/// The bundle of the dict form, `{"cpus": 2, "ports": [[1, 5]], "mem": "1024"}`.
pub(super) fn resources_from_dict(data: &Bound<'_, PyAny>) -> PyResult<Resources> {
    let data = data
        .downcast::<PyDict>()
        .map_err(|_| resource_error(format!("expected a dict, got {}", type_name(data))))?;
    let mut entries = Vec::with_capacity(data.len());
    for (key_obj, value) in data.iter() {
        let key_text = key_obj.downcast::<PyString>().map_err(|_| {
            resource_error(format!("invalid key {}: expected a string", repr(&key_obj)))
        })?;
        let key_text = key_text.to_str()?;
        let key = Key::parse(key_text).map_err(|err| in_context(err, &quoted(key_text)))?;
        let value = if let Ok(text) = value.downcast::<PyString>() {
            let text = text.to_str()?;
            parse_value_text(text)
                .map_err(|err| in_context(err, &quoted(&format!("{key_text}:{text}"))))?
        } else {
            value_from_python(&value).in_context(&quoted(key_text))?
        };
        entries.push(key.with_value(value));
    }
    Ok(Resources::from_entries(entries)?)
}

fn resource_error(message: String) -> PyErr {
    to_py_err(Error::resource(message))
}

fn quoted(text: &str) -> String {
    format!("'{text}'")
}

const EXPECTED_VALUE: &str =
    "expected a number, a string, a list of [begin, end] pairs or a list of strings";

/// Python's `int` but not `bool`.
fn is_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>()
}

fn is_number(value: &Bound<'_, PyAny>) -> bool {
    is_int(value) || value.is_instance_of::<PyFloat>()
}

/// The items of a list or tuple.
fn sequence_items<'py>(value: &Bound<'py, PyAny>) -> Option<Vec<Bound<'py, PyAny>>> {
    if let Ok(list) = value.downcast::<PyList>() {
        Some(list.iter().collect())
    } else if let Ok(tuple) = value.downcast::<PyTuple>() {
        Some(tuple.iter().collect())
    } else {
        None
    }
}

/// Errors a conversion of a Python value can meet: a core error, or a Python
/// exception raised while looking at the value.
enum ConvertError {
    Core(Error),
    Python(PyErr),
}

impl From<Error> for ConvertError {
    fn from(err: Error) -> Self {
        ConvertError::Core(err)
    }
}

impl From<PyErr> for ConvertError {
    fn from(err: PyErr) -> Self {
        ConvertError::Python(err)
    }
}

impl From<ConvertError> for PyErr {
    fn from(err: ConvertError) -> PyErr {
        match err {
            ConvertError::Core(err) => to_py_err(err),
            ConvertError::Python(err) => err,
        }
    }
}

trait InContext<T> {
    fn in_context(self, context: &str) -> std::result::Result<T, ConvertError>;
}

impl<T> InContext<T> for std::result::Result<T, ConvertError> {
    fn in_context(self, context: &str) -> std::result::Result<T, ConvertError> {
        self.map_err(|err| match err {
            ConvertError::Core(err) => ConvertError::Core(in_context(err, context)),
            python => python,
        })
    }
}

type Converted<T> = std::result::Result<T, ConvertError>;

fn scalar_from_number(value: &Bound<'_, PyAny>) -> Converted<Value> {
    if value.is_instance_of::<PyFloat>() {
        return Ok(scalar_from_f64(value.extract()?, || repr(value))?);
    }
    let shown = repr(value);
    // An int beyond i64 is judged by its sign alone, as the clamped value is.
    let units = match value.extract::<i64>() {
        Ok(units) => units,
        Err(_) if value.lt(0)? => i64::MIN,
        Err(_) => i64::MAX,
    };
    Ok(scalar_from_units(units, &shown)?)
}

/// Ranges from integer pairs whose types have been checked.
fn ranges_from_python(pairs: &[(Bound<'_, PyAny>, Bound<'_, PyAny>)]) -> Converted<Value> {
    let mut checked = Vec::with_capacity(pairs.len());
    for (begin, end) in pairs {
        let bound = |value: &Bound<'_, PyAny>| {
            value
                .extract::<u64>()
                .map_err(|_| Error::resource(format!("range bound {} out of bounds", repr(value))))
        };
        let begin = bound(begin)?;
        let end = bound(end)?;
        checked.push((begin, end));
    }
    Ok(ranges_from_pairs(checked)?)
}

fn set_from_python(items: &[Bound<'_, PyAny>]) -> Converted<Value> {
    let items = items
        .iter()
        .map(|item| item.extract::<String>())
        .collect::<PyResult<Vec<_>>>()?;
    Ok(set_from_items(items.iter().map(String::as_str))?)
}

/// A dict value other than a string: a number, or a list of pairs or of strings.
fn value_from_python(value: &Bound<'_, PyAny>) -> Converted<Value> {
    if is_number(value) {
        return scalar_from_number(value);
    }
    if let Some(items) = sequence_items(value) {
        if items.iter().all(|item| item.is_instance_of::<PyString>()) {
            return set_from_python(&items);
        }
        let pairs: Option<Vec<_>> = items
            .iter()
            .map(|item| match sequence_items(item).as_deref() {
                Some([begin, end]) if is_int(begin) && is_int(end) => {
                    Some((begin.clone(), end.clone()))
                }
                _ => None,
            })
            .collect();
        if let Some(pairs) = pairs {
            return ranges_from_python(&pairs);
        }
    }
    Err(Error::resource(format!("invalid value {}: {EXPECTED_VALUE}", repr(value))).into())
}
