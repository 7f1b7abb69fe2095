//! The Python class `pyactors._core.Allocator`: argument conversion around
//! the core allocator, whose cycle runs with the GIL released.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use crate::allocator::{Allocator, Recovery, Token, TokenRecovery};
use crate::resources::Resources;

use super::resources::{borrowed_resources_argument, resources_argument, PyResourcesHandle};

/// One item of `recover_many` as Python gives it, an `Offer` for instance.
type RecoveryArgument<'py> = (
    PyBackedStr,
    PyBackedStr,
    Option<PyBackedStr>,
    Bound<'py, PyAny>,
);

/// One item of `recover_many_by_token`: the framework's and the agent's
/// tokens in place of their ids.
type TokenRecoveryArgument<'py> = (Token, Token, Option<PyBackedStr>, Bound<'py, PyAny>);

/// `pyactors._core.Allocator`: the Rust allocator; `pyactors.core.allocator`
/// wraps it in the typed facade users see.
#[pyclass(module = "pyactors._core", name = "Allocator")]
pub(super) struct PyAllocator {
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

    /// `recover` on every (framework, agent, role, resources) item with one
    /// refuse_seconds and now; checked whole, then applied with the GIL
    /// released. The items' bundles are borrowed, not copied.
    #[pyo3(signature = (recoveries, refuse_seconds, now))]
    fn recover_many(
        &mut self,
        py: Python<'_>,
        recoveries: Vec<RecoveryArgument<'_>>,
        refuse_seconds: f64,
        now: Option<f64>,
    ) -> PyResult<()> {
        let bundles = recoveries
            .iter()
            .map(|(_, _, _, resources)| borrowed_resources_argument(resources, "resources"))
            .collect::<PyResult<Vec<Cow<'_, Resources>>>>()?;
        let items: Vec<Recovery<'_>> = recoveries
            .iter()
            .zip(&bundles)
            .map(|((framework_id, agent_id, role, _), resources)| Recovery {
                framework_id,
                agent_id,
                role: role.as_deref(),
                resources,
            })
            .collect();
        let inner = &mut self.inner;
        Ok(py.allow_threads(|| inner.recover_many(&items, refuse_seconds, now))?)
    }

    /// `recover_many` with (framework token, agent token, role, resources)
    /// items: no id is hashed or compared.
    #[pyo3(signature = (recoveries, refuse_seconds, now))]
    fn recover_many_by_token(
        &mut self,
        py: Python<'_>,
        recoveries: Vec<TokenRecoveryArgument<'_>>,
        refuse_seconds: f64,
        now: Option<f64>,
    ) -> PyResult<()> {
        let bundles = recoveries
            .iter()
            .map(|(_, _, _, resources)| borrowed_resources_argument(resources, "resources"))
            .collect::<PyResult<Vec<Cow<'_, Resources>>>>()?;
        let items: Vec<TokenRecovery<'_>> = recoveries
            .iter()
            .zip(&bundles)
            .map(|((framework, agent, role, _), resources)| TokenRecovery {
                framework: *framework,
                agent: *agent,
                role: role.as_deref(),
                resources,
            })
            .collect();
        let inner = &mut self.inner;
        Ok(py.allow_threads(|| inner.recover_many_by_token(&items, refuse_seconds, now))?)
    }

    /// The agent's token for `recover_many_by_token`, valid while this
    /// registration lasts.
    fn agent_token(&self, agent_id: &str) -> PyResult<Token> {
        Ok(self.inner.agent_token(agent_id)?)
    }

    /// The framework's token for `recover_many_by_token`, valid while this
    /// registration lasts.
    fn framework_token(&self, framework_id: &str) -> PyResult<Token> {
        Ok(self.inner.framework_token(framework_id)?)
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

    /// Agents the last allocate() looked at (once per stage).
    #[getter]
    fn last_cycle_visits(&self) -> usize {
        self.inner.last_cycle_visits()
    }

    /// Agents the last allocate() took into its shuffle (active, something
    /// available, outside maintenance).
    #[getter]
    fn last_cycle_candidates(&self) -> usize {
        self.inner.last_cycle_candidates()
    }

    /// Seconds the last allocate() spent in the core.
    #[getter]
    fn last_cycle_seconds(&self) -> f64 {
        self.last_cycle_seconds
    }

    /// (framework, role, dominant share) for every framework and role,
    /// sorted: the snapshot's shares at a cost that does not grow with the
    /// agents.
    fn shares(&self) -> Vec<(String, String, f64)> {
        self.inner.shares()
    }

    /// The state document as JSON text (the facade decodes it with orjson),
    /// written with the GIL released: at tens of thousands of agents it
    /// takes a while, and the master's threads (rendering /master/state off
    /// its loop) go on meanwhile.
    fn snapshot_json(&self, py: Python<'_>) -> String {
        let inner = &self.inner;
        py.allow_threads(|| inner.snapshot().to_string())
    }
}
