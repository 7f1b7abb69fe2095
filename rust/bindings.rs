//! The `pyactors._core` extension module.
//!
//! Every error crosses into Python through `to_py_err`, which raises the very
//! classes of `pyactors.errors`, so callers catch the same exceptions
//! whichever implementation they run. The conversions of Python values
//! (dict and JSON forms) mirror `pyactors/_reference/resources.py` check by
//! check, so both give the same messages.

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use std::collections::BTreeMap;
use std::time::Instant;

use crate::allocator::Allocator;
use crate::error::{Error, ErrorKind};
use crate::resources::{
    in_context, parse_value_text, ranges_from_pairs, scalar_from_f64, scalar_from_units,
    set_from_items, Key, Resource, Resources, Value,
};

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
        Ok(Resources::from_entries(entries)?.into())
    }

    #[staticmethod]
    fn from_json(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = data.py();
        let loaded;
        let data = if let Ok(text) = data.downcast::<PyString>() {
            let json = py.import("json")?;
            loaded = json.call_method1("loads", (text,)).map_err(|err| {
                let decode_error = json.getattr("JSONDecodeError");
                match decode_error {
                    Ok(class) if err.matches(py, &class).unwrap_or(false) => {
                        resource_error(format!("invalid JSON: {}", err.value(py)))
                    }
                    _ => err,
                }
            })?;
            &loaded
        } else {
            data
        };
        let items = data.downcast::<PyList>().map_err(|_| {
            resource_error(format!(
                "expected a list of resources, got {}",
                type_name(data)
            ))
        })?;
        let mut entries = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let entry = entry_from_json(&item).in_context(&format!("resource #{index}"))?;
            entries.push(entry);
        }
        Ok(Resources::from_entries(entries)?.into())
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

    fn to_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for entry in self.inner().iter() {
            let item = PyDict::new(py);
            item.set_item("name", &*entry.name)?;
            match &entry.value {
                Value::Scalar(millis) => {
                    item.set_item("type", "SCALAR")?;
                    let scalar = PyDict::new(py);
                    scalar.set_item("value", units(*millis))?;
                    item.set_item("scalar", scalar)?;
                }
                Value::Ranges(ranges) => {
                    item.set_item("type", "RANGES")?;
                    let range = PyList::empty(py);
                    for &(begin, end) in ranges {
                        let pair = PyDict::new(py);
                        pair.set_item("begin", begin)?;
                        pair.set_item("end", end)?;
                        range.append(pair)?;
                    }
                    let body = PyDict::new(py);
                    body.set_item("range", range)?;
                    item.set_item("ranges", body)?;
                }
                Value::Set(items) => {
                    item.set_item("type", "SET")?;
                    let body = PyDict::new(py);
                    body.set_item("item", PyList::new(py, items.iter().map(|i| &**i))?)?;
                    item.set_item("set", body)?;
                }
            }
            item.set_item("role", entry.role.as_deref().unwrap_or("*"))?;
            if let Some(principal) = &entry.principal {
                let reservation = PyDict::new(py);
                reservation.set_item("principal", &**principal)?;
                item.set_item("reservation", reservation)?;
            }
            if let Some(volume) = &entry.volume {
                let persistence = PyDict::new(py);
                persistence.set_item("id", &**volume)?;
                let disk = PyDict::new(py);
                disk.set_item("persistence", persistence)?;
                item.set_item("disk", disk)?;
            }
            list.append(item)?;
        }
        Ok(list)
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

fn resource_error(message: String) -> PyErr {
    to_py_err(Error::resource(message))
}

fn quoted(text: &str) -> String {
    format!("'{text}'")
}

fn repr(value: &Bound<'_, PyAny>) -> String {
    match value.repr() {
        Ok(text) => text.to_string(),
        Err(_) => format!("<{} object>", type_name(value)),
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |name| name.to_string())
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
    let shown = repr(value);
    if value.is_instance_of::<PyFloat>() {
        return Ok(scalar_from_f64(value.extract()?, &shown)?);
    }
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

const JSON_FIELDS: [&str; 8] = [
    "name",
    "type",
    "scalar",
    "ranges",
    "set",
    "role",
    "reservation",
    "disk",
];
const VALUE_FIELDS: [(&str, &str); 3] =
    [("SCALAR", "scalar"), ("RANGES", "ranges"), ("SET", "set")];

fn json_field<'py>(item: &Bound<'py, PyDict>, field: &str) -> Converted<Option<Bound<'py, PyAny>>> {
    Ok(item.get_item(field)?)
}

fn json_string(item: &Bound<'_, PyDict>, field: &str) -> Converted<String> {
    let value = json_field(item, field)?
        .ok_or_else(|| Error::resource(format!("missing field '{field}'")))?;
    let text = value
        .downcast::<PyString>()
        .map_err(|_| Error::resource(format!("field '{field}' must be a string")))?;
    Ok(text.to_str()?.to_string())
}

/// The dict `value` if it has exactly these fields.
fn only_fields<'a, 'py>(
    value: &'a Bound<'py, PyAny>,
    fields: &[&str],
) -> Converted<Option<&'a Bound<'py, PyDict>>> {
    let Ok(dict) = value.downcast::<PyDict>() else {
        return Ok(None);
    };
    if dict.len() != fields.len() {
        return Ok(None);
    }
    for field in fields {
        if !dict.contains(*field)? {
            return Ok(None);
        }
    }
    Ok(Some(dict))
}

/// The value of `field` in `value` if `value` is a dict of exactly `field`.
fn sole_field<'py>(value: &Bound<'py, PyAny>, field: &str) -> Converted<Option<Bound<'py, PyAny>>> {
    match only_fields(value, &[field])? {
        Some(dict) => json_field(dict, field),
        None => Ok(None),
    }
}

fn entry_from_json(item: &Bound<'_, PyAny>) -> Converted<Resource> {
    let item = item
        .downcast::<PyDict>()
        .map_err(|_| Error::resource(format!("expected an object, got {}", type_name(item))))?;
    for field in item.keys() {
        let known = match field.downcast::<PyString>() {
            Ok(name) => JSON_FIELDS.contains(&name.to_str()?),
            Err(_) => false,
        };
        if !known {
            return Err(Error::resource(format!("unknown field {}", repr(&field))).into());
        }
    }
    let name = json_string(item, "name")?;
    let kind = json_string(item, "type")?;
    let value_field = VALUE_FIELDS
        .iter()
        .find(|(type_name, _)| *type_name == kind)
        .map(|(_, field)| *field)
        .ok_or_else(|| {
            Error::resource(format!(
                "unknown type '{kind}': expected SCALAR, RANGES or SET"
            ))
        })?;
    for (_, field) in VALUE_FIELDS {
        if field != value_field && item.contains(field)? {
            return Err(
                Error::resource(format!("field '{field}' does not match type {kind}")).into(),
            );
        }
    }
    let body = json_field(item, value_field)?
        .ok_or_else(|| Error::resource(format!("missing field '{value_field}'")))?;
    let role = match json_field(item, "role")? {
        Some(_) => json_string(item, "role")?,
        None => "*".to_string(),
    };
    let principal = match json_field(item, "reservation")? {
        None => None,
        Some(reservation) => match sole_field(&reservation, "principal")? {
            Some(principal) if principal.is_instance_of::<PyString>() => {
                Some(principal.extract::<String>()?)
            }
            _ => {
                return Err(
                    Error::resource("field 'reservation' must be {\"principal\": string}").into(),
                )
            }
        },
    };
    let volume = match json_field(item, "disk")? {
        None => None,
        Some(disk) => {
            let id = match sole_field(&disk, "persistence")? {
                Some(persistence) => sole_field(&persistence, "id")?,
                None => None,
            };
            match id {
                Some(id) if id.is_instance_of::<PyString>() => Some(id.extract::<String>()?),
                _ => {
                    return Err(Error::resource(
                        "field 'disk' must be {\"persistence\": {\"id\": string}}",
                    )
                    .into())
                }
            }
        }
    };
    let key = Key::new(&name, Some(&role), principal.as_deref(), volume.as_deref())?;
    Ok(key.with_value(value_from_json(value_field, &body)?))
}

fn value_from_json(field: &str, body: &Bound<'_, PyAny>) -> Converted<Value> {
    match field {
        "scalar" => match sole_field(body, "value")? {
            Some(value) if is_number(&value) => scalar_from_number(&value),
            _ => Err(Error::resource("field 'scalar' must be {\"value\": number}").into()),
        },
        "ranges" => {
            let invalid = || {
                ConvertError::Core(Error::resource(
                    "field 'ranges' must be {\"range\": [{\"begin\": integer, \"end\": integer}]}",
                ))
            };
            let ranges = sole_field(body, "range")?.ok_or_else(invalid)?;
            let ranges = ranges.downcast::<PyList>().map_err(|_| invalid())?;
            let mut pairs = Vec::with_capacity(ranges.len());
            for range in ranges.iter() {
                let Some(range) = only_fields(&range, &["begin", "end"])? else {
                    return Err(invalid());
                };
                let (begin, end) = (json_field(range, "begin")?, json_field(range, "end")?);
                match (begin, end) {
                    (Some(begin), Some(end)) if is_int(&begin) && is_int(&end) => {
                        pairs.push((begin, end));
                    }
                    _ => return Err(invalid()),
                }
            }
            ranges_from_python(&pairs)
        }
        _ => {
            let invalid =
                || ConvertError::Core(Error::resource("field 'set' must be {\"item\": [string]}"));
            let items = sole_field(body, "item")?.ok_or_else(invalid)?;
            let items = items.downcast::<PyList>().map_err(|_| invalid())?;
            let items: Vec<_> = items.iter().collect();
            if !items.iter().all(|item| item.is_instance_of::<PyString>()) {
                return Err(invalid());
            }
            set_from_python(&items)
        }
    }
}

/// A `Resources` argument: the class itself, resource text, or the dict form.
fn resources_argument(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Resources> {
    if let Ok(handle) = value.downcast::<PyResourcesHandle>() {
        return Ok(handle.get().inner().clone());
    }
    if let Ok(text) = value.downcast::<PyString>() {
        return Ok(Resources::parse(text.to_str()?)?);
    }
    if value.downcast::<PyDict>().is_ok() {
        return Ok(PyResourcesHandle::from_dict(value)?.inner().clone());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be Resources, text or a dict, not {}",
        type_name(value)
    )))
}

/// `pyactors._core.Allocator`: the Rust allocator; `pyactors.core.allocator`
/// wraps it in the typed facade users see.
#[pyclass(module = "pyactors._core", name = "Allocator")]
struct PyAllocator {
    inner: Allocator,
    /// Wall time of the last cycle inside the core, without the conversion of
    /// its offers to Python objects (Mesos's allocation_run_ms). Measured
    /// here because the core itself never reads a clock.
    last_cycle_seconds: f64,
}

#[pymethods]
impl PyAllocator {
    #[new]
    fn new(
        sorter: &str,
        seed: u64,
        min_allocatable: Vec<String>,
        fairness_exclude: Vec<String>,
    ) -> PyResult<Self> {
        let minimums = min_allocatable
            .iter()
            .map(|text| Resources::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PyAllocator {
            inner: Allocator::new(sorter, seed, minimums, fairness_exclude)?,
            last_cycle_seconds: 0.0,
        })
    }

    fn add_agent(
        &mut self,
        agent_id: &str,
        total: &Bound<'_, PyAny>,
        now: f64,
        attributes: BTreeMap<String, String>,
        allocated: Vec<(String, String, Bound<'_, PyAny>)>,
    ) -> PyResult<()> {
        let total = resources_argument(total, "total")?;
        let allocated = allocated
            .into_iter()
            .map(|(framework, role, resources)| {
                Ok((
                    framework,
                    role,
                    resources_argument(&resources, "allocated resources")?,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(self
            .inner
            .add_agent(agent_id, total, now, attributes, allocated)?)
    }

    fn remove_agent(&mut self, agent_id: &str) -> PyResult<()> {
        Ok(self.inner.remove_agent(agent_id)?)
    }

    fn activate_agent(&mut self, agent_id: &str) -> PyResult<()> {
        Ok(self.inner.activate_agent(agent_id)?)
    }

    fn deactivate_agent(&mut self, agent_id: &str) -> PyResult<()> {
        Ok(self.inner.deactivate_agent(agent_id)?)
    }

    #[pyo3(signature = (agent_id, total, attributes))]
    fn update_agent(
        &mut self,
        agent_id: &str,
        total: Option<Bound<'_, PyAny>>,
        attributes: Option<BTreeMap<String, String>>,
    ) -> PyResult<()> {
        let total = total.map(|t| resources_argument(&t, "total")).transpose()?;
        Ok(self.inner.update_agent(agent_id, total, attributes)?)
    }

    #[pyo3(signature = (agent_id, start, duration))]
    fn set_unavailability(
        &mut self,
        agent_id: &str,
        start: Option<f64>,
        duration: Option<f64>,
    ) -> PyResult<()> {
        Ok(self.inner.set_unavailability(agent_id, start, duration)?)
    }

    fn add_framework(
        &mut self,
        framework_id: &str,
        roles: Vec<String>,
        now: f64,
        capabilities: Vec<String>,
        active: bool,
    ) -> PyResult<()> {
        Ok(self
            .inner
            .add_framework(framework_id, roles, now, capabilities, active)?)
    }

    #[pyo3(signature = (framework_id, roles, capabilities))]
    fn update_framework(
        &mut self,
        framework_id: &str,
        roles: Option<Vec<String>>,
        capabilities: Option<Vec<String>>,
    ) -> PyResult<()> {
        Ok(self
            .inner
            .update_framework(framework_id, roles, capabilities)?)
    }

    fn remove_framework(&mut self, framework_id: &str) -> PyResult<()> {
        Ok(self.inner.remove_framework(framework_id)?)
    }

    fn activate_framework(&mut self, framework_id: &str) -> PyResult<()> {
        Ok(self.inner.activate_framework(framework_id)?)
    }

    fn deactivate_framework(&mut self, framework_id: &str) -> PyResult<()> {
        Ok(self.inner.deactivate_framework(framework_id)?)
    }

    #[pyo3(signature = (framework_id, roles))]
    fn suppress(&mut self, framework_id: &str, roles: Option<Vec<String>>) -> PyResult<()> {
        Ok(self.inner.suppress(framework_id, roles.as_deref())?)
    }

    #[pyo3(signature = (framework_id, roles))]
    fn revive(&mut self, framework_id: &str, roles: Option<Vec<String>>) -> PyResult<()> {
        Ok(self.inner.revive(framework_id, roles.as_deref())?)
    }

    fn set_weight(&mut self, role: &str, weight: f64) -> PyResult<()> {
        Ok(self.inner.set_weight(role, weight)?)
    }

    #[pyo3(signature = (role, guarantee, limit))]
    fn set_quota(
        &mut self,
        role: &str,
        guarantee: Vec<(String, i64)>,
        limit: Option<Vec<(String, i64)>>,
    ) -> PyResult<()> {
        Ok(self.inner.set_quota(role, guarantee, limit)?)
    }

    #[pyo3(signature = (framework_id, agent_id, resources, refuse_seconds, now, role))]
    fn recover(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        resources: &Bound<'_, PyAny>,
        refuse_seconds: f64,
        now: Option<f64>,
        role: Option<&str>,
    ) -> PyResult<()> {
        let resources = resources_argument(resources, "resources")?;
        Ok(self.inner.recover(
            framework_id,
            agent_id,
            &resources,
            refuse_seconds,
            now,
            role,
        )?)
    }

    fn update_allocation(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        consumed: &Bound<'_, PyAny>,
        converted: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let consumed = resources_argument(consumed, "consumed")?;
        let converted = resources_argument(converted, "converted")?;
        Ok(self
            .inner
            .update_allocation(framework_id, agent_id, role, &consumed, &converted)?)
    }

    fn update_available(
        &mut self,
        agent_id: &str,
        consumed: &Bound<'_, PyAny>,
        converted: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let consumed = resources_argument(consumed, "consumed")?;
        let converted = resources_argument(converted, "converted")?;
        Ok(self
            .inner
            .update_available(agent_id, &consumed, &converted)?)
    }

    /// One allocation cycle, with the GIL released: (framework, agent, role,
    /// Resources) per offer.
    fn allocate(
        &mut self,
        py: Python<'_>,
        now: f64,
    ) -> PyResult<Vec<(String, String, String, PyResourcesHandle)>> {
        let inner = &mut self.inner;
        let (offers, seconds) = py.allow_threads(|| {
            let started = Instant::now();
            let offers = inner.allocate(now);
            (offers, started.elapsed().as_secs_f64())
        });
        self.last_cycle_seconds = seconds;
        let offers = offers?;
        Ok(offers
            .into_iter()
            .map(|offer| {
                (
                    offer.framework_id.to_string(),
                    offer.agent_id.to_string(),
                    offer.role.to_string(),
                    PyResourcesHandle::from(offer.resources),
                )
            })
            .collect())
    }

    /// Seconds the last allocate() spent in the core.
    #[getter]
    fn last_cycle_seconds(&self) -> f64 {
        self.last_cycle_seconds
    }

    /// The state document as JSON text (the facade decodes it with orjson).
    fn snapshot_json(&self) -> String {
        self.inner.snapshot().to_string()
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyResourcesHandle>()?;
    m.add_class::<PyAllocator>()?;
    Ok(())
}
