//! The Python class `pyactors._core.Resources` and the conversion of
//! `Resources` arguments.

use std::borrow::Cow;

use pyo3::basic::CompareOp;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};

use crate::resources::{Resources, Value};

use super::data::{data_from_json_text, data_from_python, data_to_python};
use super::dict_form::resources_from_dict;
use super::type_name;

/// The Python class `pyactors._core.Resources`: an immutable bundle.
#[pyclass(frozen, module = "pyactors._core", name = "Resources")]
#[derive(Default)]
pub(crate) struct PyResourcesHandle {
    inner: Resources,
}

impl PyResourcesHandle {
    /// The bundle, for bindings that take `Resources` arguments.
    pub(crate) fn inner(&self) -> &Resources {
        &self.inner
    }
}

impl From<Resources> for PyResourcesHandle {
    fn from(inner: Resources) -> Self {
        PyResourcesHandle { inner }
    }
}

#[pymethods]
impl PyResourcesHandle {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        Ok(Resources::parse(text)?.into())
    }

    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(resources_from_dict(data)?.into())
    }

    #[staticmethod]
    fn from_json(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let data = match data.downcast::<PyString>() {
            Ok(text) => data_from_json_text(text)?,
            Err(_) => data_from_python(data)?,
        };
        Ok(Resources::from_json(&data)?.into())
    }

    fn to_text(&self) -> String {
        self.inner().to_text()
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for entry in self.inner().iter() {
            let value: Bound<'py, PyAny> = match &entry.value {
                Value::Scalar(millis) => PyFloat::new(py, units(*millis)).into_any(),
                Value::Ranges(ranges) => PyList::new(
                    py,
                    ranges
                        .iter()
                        .map(|&(begin, end)| PyList::new(py, [begin, end]))
                        .collect::<PyResult<Vec<_>>>()?,
                )?
                .into_any(),
                Value::Set(items) => PyList::new(py, items.iter().map(|item| &**item))?.into_any(),
            };
            dict.set_item(entry.key_text(), value)?;
        }
        Ok(dict)
    }

    fn to_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        data_to_python(py, &self.inner().to_json())
    }

    fn unreserved(&self) -> Self {
        self.inner().unreserved().into()
    }

    #[pyo3(signature = (role=None))]
    fn reserved(&self, role: Option<&str>) -> Self {
        self.inner().reserved(role).into()
    }

    fn allocatable_to(&self, role: &str) -> Self {
        self.inner().allocatable_to(role).into()
    }

    fn scalars(&self) -> Self {
        self.inner().scalars().into()
    }

    fn scalar(&self, name: &str) -> f64 {
        units(self.inner().scalar_millis(name))
    }

    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, millis) in self.inner().totals_millis() {
            dict.set_item(&*name, units(millis))?;
        }
        Ok(dict)
    }

    fn names(&self) -> Vec<String> {
        self.inner()
            .names()
            .iter()
            .map(|name| name.to_string())
            .collect()
    }

    fn contains(&self, other: PyRef<'_, Self>) -> bool {
        self.inner().contains(other.inner())
    }

    fn is_empty(&self) -> bool {
        self.inner().is_empty()
    }

    fn __add__(&self, other: PyRef<'_, Self>) -> PyResult<Self> {
        Ok(self.inner().checked_add(other.inner())?.into())
    }

    fn __sub__(&self, other: PyRef<'_, Self>) -> PyResult<Self> {
        Ok(self.inner().checked_sub(other.inner())?.into())
    }

    fn __richcmp__(&self, other: PyRef<'_, Self>, op: CompareOp) -> bool {
        let (mine, theirs) = (self.inner(), other.inner());
        match op {
            CompareOp::Eq => mine == theirs,
            CompareOp::Ne => mine != theirs,
            CompareOp::Le => theirs.contains(mine),
            CompareOp::Lt => theirs.contains(mine) && mine != theirs,
            CompareOp::Ge => mine.contains(theirs),
            CompareOp::Gt => mine.contains(theirs) && mine != theirs,
        }
    }

    fn __bool__(&self) -> bool {
        !self.inner().is_empty()
    }

    fn __len__(&self) -> usize {
        self.inner().len()
    }

    /// The hash of the canonical text, as Python computes it for the str.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyString::new(py, &self.inner().to_text()).hash()
    }

    fn __str__(&self) -> String {
        self.inner().to_text()
    }

    fn __repr__(&self) -> String {
        format!("Resources('{}')", self.inner())
    }

    /// Pickles as `Resources.parse(text)`: Ray ships bundles between processes.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let parse = py.get_type::<Self>().getattr("parse")?;
        Ok((parse, (self.inner().to_text(),)))
    }
}

fn units(millis: i64) -> f64 {
    // Exact for every stored quantity (below 2^53 millis), then one rounding.
    millis as f64 / 1000.0
}

/// A `Resources` argument: the class itself, resource text, or the dict form.
pub(super) fn resources_argument(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Resources> {
    borrowed_resources_argument(value, what).map(Cow::into_owned)
}

/// A `Resources` argument, borrowed from the Python object when it is one
/// (the class is frozen, so the bundle cannot change while it is borrowed).
pub(super) fn borrowed_resources_argument<'a>(
    value: &'a Bound<'_, PyAny>,
    what: &str,
) -> PyResult<Cow<'a, Resources>> {
    if let Ok(handle) = value.downcast::<PyResourcesHandle>() {
        return Ok(Cow::Borrowed(handle.get().inner()));
    }
    Ok(Cow::Owned(parsed_resources_argument(value, what)?))
}

fn parsed_resources_argument(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Resources> {
    if let Ok(text) = value.downcast::<PyString>() {
        return Ok(Resources::parse(text.to_str()?)?);
    }
    if value.downcast::<PyDict>().is_ok() {
        return resources_from_dict(value);
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be Resources, text or a dict, not {}",
        type_name(value)
    )))
}
