//! Python values to and from the core's `Data`, the input and output of the
//! JSON form of `Resources`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

use crate::error::Error;
use crate::resources::Data;

use super::{repr, to_py_err, type_name};

/// Containers nested deeper than this are passed as opaque `Data::Other`:
/// the JSON form looks no deeper than six levels, and a list that holds
/// itself must not be followed forever.
const MAX_DEPTH: usize = 64;

/// The document of a JSON text. The core reads strict JSON; a text it
/// refuses goes to Python's `json` module, which also reads NaN and
/// Infinity, and whose wording of errors is the one callers know ("invalid
/// JSON: Expecting value: line 1 column 2 (char 1)").
pub(super) fn data_from_json_text(text: &Bound<'_, PyString>) -> PyResult<Data> {
    if let Some(data) = text.to_str().ok().and_then(|t| Data::parse_json(t).ok()) {
        return Ok(data);
    }
    let py = text.py();
    let json = py.import("json")?;
    let loaded = json.call_method1("loads", (text,)).map_err(|err| {
        match json.getattr("JSONDecodeError") {
            Ok(class) if err.matches(py, &class).unwrap_or(false) => {
                to_py_err(Error::resource(format!("invalid JSON: {}", err.value(py))))
            }
            _ => err,
        }
    })?;
    data_from_python(&loaded)
}

/// A Python value as `Data`: None, bool, int, float, str, list and dict (or
/// subclasses of them) by their JSON shape, anything else as `Other`.
pub(super) fn data_from_python(value: &Bound<'_, PyAny>) -> PyResult<Data> {
    data_at_depth(value, 0)
}

fn data_at_depth(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Data> {
    if value.is_none() {
        return Ok(Data::Null);
    }
    // Before int: bool is a subclass of it.
    if let Ok(flag) = value.downcast::<PyBool>() {
        return Ok(Data::Bool(flag.is_true()));
    }
    if let Ok(int) = value.downcast::<PyInt>() {
        let digits = match int.extract::<i64>() {
            Ok(small) => small.to_string(),
            Err(_) => int.str()?.to_string(),
        };
        return Ok(Data::Int(digits));
    }
    if let Ok(float) = value.downcast::<PyFloat>() {
        return Ok(Data::Float(float.value()));
    }
    if let Ok(text) = value.downcast::<PyString>() {
        return Ok(Data::Str(text.to_str()?.to_string()));
    }
    if depth < MAX_DEPTH {
        if let Ok(list) = value.downcast::<PyList>() {
            return Ok(Data::List(
                list.iter()
                    .map(|item| data_at_depth(&item, depth + 1))
                    .collect::<PyResult<_>>()?,
            ));
        }
        if let Ok(dict) = value.downcast::<PyDict>() {
            return Ok(Data::Object(
                dict.iter()
                    .map(|(key, item)| {
                        Ok((
                            data_at_depth(&key, depth + 1)?,
                            data_at_depth(&item, depth + 1)?,
                        ))
                    })
                    .collect::<PyResult<_>>()?,
            ));
        }
    }
    Ok(Data::Other {
        type_name: type_name(value),
        repr: repr(value),
    })
}

/// `Data` as Python values: the inverse of `data_from_python` for
/// everything but `Other`, which has no Python value to return to.
pub(super) fn data_to_python<'py>(py: Python<'py>, data: &Data) -> PyResult<Bound<'py, PyAny>> {
    Ok(match data {
        Data::Null => py.None().into_bound(py),
        Data::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Data::Int(digits) => match digits.parse::<i64>() {
            Ok(small) => small.into_pyobject(py)?.into_any(),
            Err(_) => py.get_type::<PyInt>().call1((digits,))?,
        },
        Data::Float(value) => PyFloat::new(py, *value).into_any(),
        Data::Str(text) => PyString::new(py, text).into_any(),
        Data::List(items) => PyList::new(
            py,
            items
                .iter()
                .map(|item| data_to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Data::Object(entries) => {
            let dict = PyDict::new(py);
            for (key, value) in entries {
                dict.set_item(data_to_python(py, key)?, data_to_python(py, value)?)?;
            }
            dict.into_any()
        }
        Data::Other { type_name, .. } => {
            return Err(PyTypeError::new_err(format!(
                "an opaque {type_name} has no Python value"
            )))
        }
    })
}
