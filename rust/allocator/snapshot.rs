//! The state document: everything the allocator knows (totals, agents,
//! frameworks with their shares and filters, roles with weights and quota)
//! as plain sorted JSON.
//!
//! Contract of `snapshot()`: the reference produces the very same document
//! for the same history; reading it changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value as Json};

use crate::filters::{FrameworkSlot, RoleId};
use crate::quantities::{dominant_share, NameId, Quantities};
use crate::resources::Name;

use super::types::Membership;
use super::Allocator;

impl Allocator {
    fn floats(&self, quantities: &Quantities, keep_zeros: bool) -> Json {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for id in 0..self.names.len() {
            let millis = quantities.get(id);
            if millis != 0 || keep_zeros {
                out.insert(self.names.name(id).to_string(), millis as f64 / 1000.0);
            }
        }
        json!(out)
    }

    fn named_floats(&self, quantities: &[(NameId, i64)]) -> Json {
        let out: BTreeMap<String, f64> = quantities
            .iter()
            .map(|&(id, millis)| (self.names.name(id).to_string(), millis as f64 / 1000.0))
            .collect();
        json!(out)
    }

    /// Roles worth listing: those with frameworks, a weight, a quota or
    /// reservations, and their ancestors.
    fn known_roles(&self) -> BTreeSet<RoleId> {
        let mut known = BTreeSet::new();
        for (id, role) in self.roles.iter().enumerate() {
            if role.frameworks > 0
                || role.weight.is_some()
                || role.quota.is_some()
                || role.reserving_agents > 0
            {
                known.extend(self.lineage(id as RoleId));
            }
        }
        known
    }

    /// Each framework's dominant share in each of its roles, sorted by
    /// framework then role: the `shares` of `snapshot()`'s frameworks,
    /// without the cost of the rest of the document (which grows with the
    /// agents; this grows only with the frameworks).
    pub fn shares(&self) -> Vec<(String, String, f64)> {
        let excluded = self.excluded();
        let mut out: Vec<(String, String, f64)> = self
            .frameworks
            .iter()
            .flatten()
            .flat_map(|framework| {
                framework.roles.iter().map(|m| {
                    (
                        framework.id.to_string(),
                        self.role(m.role).path.to_string(),
                        dominant_share(&m.allocation, &self.totals, &excluded),
                    )
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// Everything the allocator knows as plain sorted data; the reference
    /// produces the same document for the same history.
    pub fn snapshot(&self) -> Json {
        let excluded = self.excluded();
        let mut agents = Map::new();
        let mut agent_ids: Vec<&Name> = self.agent_slots.keys().collect();
        agent_ids.sort();
        for id in agent_ids {
            let agent = self.agent(self.agent_slots[id]);
            let mut allocated: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for (framework, role, resources) in &agent.allocated {
                allocated
                    .entry(self.framework(*framework).id.to_string())
                    .or_default()
                    .insert(self.role(*role).path.to_string(), resources.to_text());
            }
            agents.insert(
                id.to_string(),
                json!({
                    "total": agent.total.to_text(),
                    "available": agent.available.to_text(),
                    "allocated": allocated,
                    "active": agent.active,
                    "attributes": agent.attributes,
                    "unavailability": agent.unavailability.map(|(start, duration)| {
                        json!({"start": start, "duration": duration})
                    }),
                    "registered_at": agent.registered_at,
                }),
            );
        }
        let mut filters_by_framework: FxHashMap<FrameworkSlot, Vec<(String, String, String, f64)>> =
            FxHashMap::default();
        for agent in self.agents.iter().flatten() {
            for (framework, role, refused, expires) in agent.filters.iter() {
                filters_by_framework.entry(framework).or_default().push((
                    agent.id.to_string(),
                    self.role(role).path.to_string(),
                    refused.to_text(),
                    expires,
                ));
            }
        }
        let mut frameworks = Map::new();
        let mut framework_ids: Vec<&Name> = self.framework_slots.keys().collect();
        framework_ids.sort();
        for id in framework_ids {
            let slot = self.framework_slots[id];
            let framework = self.framework(slot);
            let mut memberships: Vec<&Membership> = framework.roles.iter().collect();
            memberships.sort_by(|a, b| self.role(a.role).path.cmp(&self.role(b.role).path));
            let mut allocated = Map::new();
            let mut shares = Map::new();
            for m in &memberships {
                let path = self.role(m.role).path.to_string();
                allocated.insert(path.clone(), self.floats(&m.allocation, false));
                shares.insert(
                    path,
                    json!(dominant_share(&m.allocation, &self.totals, &excluded)),
                );
            }
            let mut filters = filters_by_framework.remove(&slot).unwrap_or_default();
            filters.sort_by(|a, b| {
                (&a.0, &a.1, &a.2)
                    .cmp(&(&b.0, &b.1, &b.2))
                    .then(a.3.total_cmp(&b.3))
            });
            let mut suppressed: Vec<&str> = framework
                .roles
                .iter()
                .filter(|m| m.suppressed)
                .map(|m| &*self.role(m.role).path)
                .collect();
            suppressed.sort();
            frameworks.insert(
                id.to_string(),
                json!({
                    "roles": framework.roles.iter().map(|m| &*self.role(m.role).path).collect::<Vec<_>>(),
                    "active": framework.active,
                    "suppressed_roles": suppressed,
                    "capabilities": framework.capabilities,
                    "allocated": allocated,
                    "shares": shares,
                    "filters": filters.iter().map(|(agent, role, resources, expires)| json!({
                        "agent": agent, "role": role, "resources": resources, "expires": expires,
                    })).collect::<Vec<_>>(),
                    "registered_at": framework.registered_at,
                }),
            );
        }
        let mut roles = Map::new();
        for id in self.known_roles() {
            let role = self.role(id);
            let mut members: Vec<&str> = self
                .frameworks
                .iter()
                .flatten()
                .filter(|f| f.membership(id).is_some())
                .map(|f| &*f.id)
                .collect();
            members.sort();
            roles.insert(
                role.path.to_string(),
                json!({
                    "weight": role.weight.unwrap_or(1.0),
                    "guarantee": role.quota.as_ref().map_or(json!({}), |q| self.named_floats(&q.guarantee)),
                    "limit": role.quota.as_ref().and_then(|q| q.limit.as_ref()).map(|l| self.named_floats(l)),
                    "allocated": self.floats(&role.allocation, false),
                    "consumed_quota": self.floats(&role.consumed, false),
                    "share": dominant_share(&role.allocation, &self.totals, &excluded)
                        / role.weight.unwrap_or(1.0),
                    "frameworks": members,
                }),
            );
        }
        json!({
            "sorter": self.policy,
            "total": self.floats(&self.totals, false),
            "allocated": self.floats(&self.allocated_total, false),
            "agents": agents,
            "frameworks": frameworks,
            "roles": roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::resources::Resources;

    use super::Allocator;

    #[test]
    fn shares_are_the_snapshots_shares() {
        let mut a = Allocator::new("drf", 0, Vec::new(), Vec::new()).unwrap();
        for (agent, total) in [("a1", "cpus:4;mem:4096"), ("a2", "cpus:8;mem:1024")] {
            let total = Resources::parse(total).unwrap();
            a.add_agent(agent, total, 0.0, BTreeMap::new(), vec![])
                .unwrap();
        }
        a.add_framework("fw-b", vec!["web".into(), "db".into()], 0.0, vec![], true)
            .unwrap();
        a.add_framework("fw-a", vec!["web".into()], 0.0, vec![], true)
            .unwrap();
        a.allocate(1.0).unwrap();
        let snapshot = a.snapshot();
        let expected: Vec<(String, String, f64)> = snapshot["frameworks"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(framework, entry)| {
                entry["shares"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(role, share)| (framework.clone(), role.clone(), share.as_f64().unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(expected.len(), 3);
        assert!(expected.iter().any(|(_, _, share)| *share > 0.0));
        assert_eq!(a.shares(), expected);
    }
}
