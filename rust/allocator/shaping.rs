//! What a role may be offered on an agent: the unreserved scalars cut to the
//! quota limits of the role and its ancestors and to the headroom held back
//! for unsatisfied guarantees, and whether a bundle is worth offering at all
//! (the minimum allocatable resources).

use crate::filters::RoleId;
use crate::quantities::Quantities;
use crate::resources::{Name, Resource, Resources, Value};

use super::types::Headroom;
use super::Allocator;

impl Allocator {
    pub(super) fn allocatable(&self, bundle: &Resources) -> bool {
        if bundle.is_empty() {
            return false;
        }
        self.min_allocatable.is_empty()
            || self.min_allocatable.iter().any(|requirement| {
                requirement
                    .iter()
                    .all(|(name, millis)| bundle.scalar_millis(name) >= *millis)
            })
    }

    /// Room left under the limits of the role and its ancestors, per name
    /// (None: unlimited), or None when no limit applies.
    fn limit_room(&self, role: RoleId) -> Option<Vec<Option<i64>>> {
        let mut room: Option<Vec<Option<i64>>> = None;
        for node in self.lineage(role) {
            let role = self.role(node);
            let Some(limit) = role.quota.as_ref().and_then(|q| q.limit.as_ref()) else {
                continue;
            };
            let room = room.get_or_insert_with(|| vec![None; self.names.len()]);
            for &(id, cap) in limit {
                let here = (cap - role.consumed.get(id)).max(0);
                room[id] = Some(room[id].map_or(here, |r| r.min(here)));
            }
        }
        room
    }

    /// Unreserved scalars the outermost guaranteed roles still need.
    pub(super) fn required_headroom(&self) -> Quantities {
        let mut required = Quantities::default();
        for &role in &self.quota_roles {
            let Some(quota) = &self.role(role).quota else {
                continue;
            };
            if quota.guarantee.is_empty() {
                continue;
            }
            let nested = self.lineage(role).skip(1).any(|a| self.has_guarantee(a));
            if nested {
                continue;
            }
            for &(id, millis) in &quota.guarantee {
                required.add_at(id, (millis - self.role(role).consumed.get(id)).max(0));
            }
        }
        required
    }

    pub(super) fn has_guarantee(&self, role: RoleId) -> bool {
        self.role(role)
            .quota
            .as_ref()
            .is_some_and(|q| !q.guarantee.is_empty())
    }

    pub(super) fn unsatisfied_guarantee(&self, role: RoleId) -> Option<Quantities> {
        let node = self.role(role);
        let quota = node.quota.as_ref()?;
        let mut out = Quantities::default();
        for &(id, millis) in &quota.guarantee {
            out.add_at(id, (millis - node.consumed.get(id)).max(0));
        }
        Some(out)
    }

    fn shrink_to(&self, scalars: &Resources, target: &Quantities) -> Resources {
        scalar_bundle(scalars.totals_millis().into_iter().map(|(name, millis)| {
            let cap = self.names.get(&name).map_or(0, |id| target.get(id));
            (name, millis.min(cap))
        }))
    }

    fn shrink_limits(&self, scalars: Resources, room: Option<&Vec<Option<i64>>>) -> Resources {
        let Some(room) = room else {
            return scalars;
        };
        scalar_bundle(scalars.totals_millis().into_iter().map(|(name, millis)| {
            let cap = self
                .names
                .get(&name)
                .and_then(|id| room.get(id).copied().flatten());
            (name, cap.map_or(millis, |c| millis.min(c)))
        }))
    }

    /// What `role` would be offered out of `available` (its unreserved
    /// scalars are what it adds to the role's quota consumption); None when
    /// stage 1 (`unsatisfied`) can make no progress.
    /// `Some(None)` means all of `available`, unchanged.
    pub(super) fn shape(
        &self,
        available: &Resources,
        role: RoleId,
        unsatisfied: Option<&Quantities>,
        headroom: Option<&Headroom>,
    ) -> Option<Option<Resources>> {
        let mut room = self.limit_room(role);
        let holds_back = headroom.is_some_and(|h| !h.required.is_zero());
        if unsatisfied.is_none() && room.is_none() && !holds_back {
            return Some(None);
        }
        let quota_scalars = available.filter(is_quota_scalar);
        let always = available.filter(|r| !is_quota_scalar(r));
        let mut guaranteed = Resources::new();
        if let Some(unsatisfied) = unsatisfied {
            guaranteed =
                self.shrink_limits(self.shrink_to(&quota_scalars, unsatisfied), room.as_ref());
            if guaranteed.is_empty() {
                return None;
            }
            if let Some(room) = room.as_mut() {
                for (name, millis) in guaranteed.totals_millis() {
                    let left = self.names.get(&name).and_then(|id| room.get_mut(id));
                    if let Some(Some(left)) = left {
                        *left = (*left - millis).max(0);
                    }
                }
            }
        }
        let rest = quota_scalars
            .checked_sub(&guaranteed)
            .expect("guaranteed part is cut from the quota scalars");
        let mut additional = self.shrink_limits(rest, room.as_ref());
        if let (true, Some(headroom)) = (holds_back, headroom) {
            if !additional.is_empty() {
                let surplus = headroom.available.minus_clamped(&headroom.required);
                additional = self.shrink_to(&additional, &surplus);
            }
        }
        let mut bundle = always;
        bundle
            .add_assign(&guaranteed)
            .expect("parts of one bundle are disjoint");
        bundle
            .add_assign(&additional)
            .expect("parts of one bundle are disjoint");
        Some(Some(bundle))
    }
}

fn scalar_bundle(entries: impl IntoIterator<Item = (Name, i64)>) -> Resources {
    Resources::from_entries(
        entries
            .into_iter()
            .filter(|(_, millis)| *millis > 0)
            .map(|(name, millis)| Resource {
                name,
                role: None,
                principal: None,
                volume: None,
                value: Value::Scalar(millis),
            })
            .collect(),
    )
    .expect("unreserved scalars of distinct names form a valid bundle")
}

fn is_quota_scalar(resource: &Resource) -> bool {
    resource.role.is_none() && matches!(resource.value, Value::Scalar(_))
}
