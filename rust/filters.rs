//! Offer filters of one agent: "framework F refused these resources here in
//! role R until time T".
//!
//! Frameworks that decline tend to refuse the very same bundle (the agent's
//! whole free part), so filters are grouped by (role, refused resources): a
//! cycle checks each group's containment once per bundle and then answers
//! each framework with a bit test, instead of a resource comparison per
//! framework.

use crate::resources::Resources;

pub type FrameworkSlot = u32;
pub type RoleId = u32;

#[derive(Debug, Clone)]
struct Group {
    role: RoleId,
    refused: Resources,
    /// Members with their expiry, in the order they joined: a round's
    /// declines append without a search (`members` says who is in).
    expiries: Vec<(FrameworkSlot, f64)>,
    members: BitSet,
}

/// A set of framework slots.
#[derive(Debug, Clone, Default)]
pub struct BitSet(Vec<u64>);

impl BitSet {
    pub fn insert(&mut self, slot: FrameworkSlot) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    pub fn remove(&mut self, slot: FrameworkSlot) {
        if let Some(word) = self.0.get_mut(slot as usize / 64) {
            *word &= !(1 << (slot % 64));
        }
    }

    pub fn contains(&self, slot: FrameworkSlot) -> bool {
        self.0
            .get(slot as usize / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(index, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    index as u32 * 64 + bit
                })
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

/// The filters of one agent.
#[derive(Debug, Clone, Default)]
pub struct AgentFilters {
    groups: Vec<Group>,
}

impl AgentFilters {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Starts loading the first groups (`prefetch`).
    pub fn prefetch(&self) {
        crate::prefetch::prefetch(self.groups.as_ptr());
    }

    /// Adds a filter; refusing the same bundle again in the same role keeps
    /// the later expiry.
    pub fn add(&mut self, slot: FrameworkSlot, role: RoleId, refused: &Resources, expires: f64) {
        let index = self.group_of(role, refused).unwrap_or_else(|| {
            self.groups.push(Group {
                role,
                refused: refused.clone(),
                expiries: Vec::new(),
                members: BitSet::default(),
            });
            self.groups.len() - 1
        });
        self.add_to_group(index, slot, expires);
    }

    /// The group of filters refusing exactly `refused` in `role`, if any.
    fn group_of(&self, role: RoleId, refused: &Resources) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.role == role && g.refused == *refused)
    }

    fn add_to_group(&mut self, index: usize, slot: FrameworkSlot, expires: f64) {
        let group = &mut self.groups[index];
        if group.members.contains(slot) {
            let (_, expiry) = group
                .expiries
                .iter_mut()
                .find(|(member, _)| *member == slot)
                .expect("members have an expiry");
            *expiry = expiry.max(expires);
        } else {
            group.expiries.push((slot, expires));
            group.members.insert(slot);
        }
    }

    /// Drops the framework's filters in the roles `drop_role` selects.
    pub fn remove_framework(&mut self, slot: FrameworkSlot, drop_role: impl Fn(RoleId) -> bool) {
        for group in &mut self.groups {
            if drop_role(group.role) && group.members.contains(slot) {
                group.expiries.retain(|&(member, _)| member != slot);
                group.members.remove(slot);
            }
        }
        self.groups.retain(|g| !g.expiries.is_empty());
    }

    /// Drops filters that have expired at `now` (expiry <= now); returns the
    /// frameworks that no longer have any filter here.
    pub fn expire(&mut self, now: f64) -> Vec<FrameworkSlot> {
        let before = self.framework_slots();
        for group in &mut self.groups {
            let members = &mut group.members;
            group.expiries.retain(|&(slot, expires)| {
                let expired = expires <= now;
                if expired {
                    members.remove(slot);
                }
                !expired
            });
        }
        self.groups.retain(|g| !g.expiries.is_empty());
        let after = self.framework_slots();
        before.into_iter().filter(|s| !after.contains(s)).collect()
    }

    /// The earliest expiry, if any.
    pub fn earliest_expiry(&self) -> Option<f64> {
        self.groups
            .iter()
            .flat_map(|g| g.expiries.iter().map(|&(_, expires)| expires))
            .min_by(f64::total_cmp)
    }

    /// Indices of the groups in `role` whose refused resources contain
    /// `bundle`: computed once per (agent, role, bundle), then `refuses` is a
    /// bit test per framework.
    pub fn applicable(&self, role: RoleId, bundle: &Resources) -> Vec<usize> {
        self.groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.role == role && g.refused.contains(bundle))
            .map(|(index, _)| index)
            .collect()
    }

    /// Whether one of the `applicable` groups holds a filter of `slot`.
    pub fn refuses(&self, applicable: &[usize], slot: FrameworkSlot) -> bool {
        applicable
            .iter()
            .any(|&index| self.groups[index].members.contains(slot))
    }

    /// Whether the `applicable` groups together hold a filter of every
    /// framework in `frameworks`: then none of them can be offered the
    /// bundle, and a walk over them can be skipped.
    pub fn refuse_all(&self, applicable: &[usize], frameworks: &BitSet) -> bool {
        if applicable.is_empty() {
            return frameworks.is_empty();
        }
        frameworks.0.iter().enumerate().all(|(index, &wanted)| {
            let mut refused = 0u64;
            for &group in applicable {
                refused |= self.groups[group]
                    .members
                    .0
                    .get(index)
                    .copied()
                    .unwrap_or(0);
            }
            wanted & !refused == 0
        })
    }

    /// Every filter as (framework, role, refused, expires).
    pub fn iter(&self) -> impl Iterator<Item = (FrameworkSlot, RoleId, &Resources, f64)> {
        self.groups.iter().flat_map(|g| {
            g.expiries
                .iter()
                .map(move |&(slot, expires)| (slot, g.role, &g.refused, expires))
        })
    }

    fn framework_slots(&self) -> Vec<FrameworkSlot> {
        let mut slots: Vec<FrameworkSlot> = self
            .groups
            .iter()
            .flat_map(|g| g.expiries.iter().map(|&(slot, _)| slot))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(text: &str) -> Resources {
        Resources::parse(text).unwrap()
    }

    #[test]
    fn a_filter_applies_to_subsets_of_what_was_refused_in_its_role() {
        let mut filters = AgentFilters::default();
        filters.add(3, 0, &res("cpus:4;mem:1024"), 10.0);
        let refuses = |role, text, slot| {
            let applicable = filters.applicable(role, &res(text));
            filters.refuses(&applicable, slot)
        };
        assert!(refuses(0, "cpus:2;mem:512", 3));
        assert!(!refuses(0, "cpus:8", 3));
        assert!(!refuses(1, "cpus:2", 3));
        assert!(!refuses(0, "cpus:2", 4));
    }

    #[test]
    fn identical_refusals_share_a_group_and_keep_the_later_expiry() {
        let mut filters = AgentFilters::default();
        for slot in 0..100 {
            filters.add(slot, 0, &res("cpus:4"), 5.0);
        }
        filters.add(7, 0, &res("cpus:4"), 9.0);
        assert_eq!(filters.groups.len(), 1);
        assert_eq!(
            filters.expire(5.0),
            (0..100).filter(|&s| s != 7).collect::<Vec<_>>()
        );
        let applicable = filters.applicable(0, &res("cpus:1"));
        assert!(filters.refuses(&applicable, 7));
        assert_eq!(filters.earliest_expiry(), Some(9.0));
        assert_eq!(filters.expire(9.0), vec![7]);
        assert!(filters.is_empty());
    }

    #[test]
    fn refuse_all_needs_every_framework_filtered() {
        let mut filters = AgentFilters::default();
        let mut frameworks = BitSet::default();
        for slot in [1, 70, 130] {
            frameworks.insert(slot);
            filters.add(slot, 0, &res("cpus:4"), 5.0);
        }
        let applicable = filters.applicable(0, &res("cpus:4"));
        assert!(filters.refuse_all(&applicable, &frameworks));
        frameworks.insert(131);
        assert!(!filters.refuse_all(&applicable, &frameworks));
        assert!(!filters.refuse_all(&filters.applicable(0, &res("cpus:5")), &frameworks));
    }

    #[test]
    fn removing_a_framework_in_some_roles_keeps_the_others() {
        let mut filters = AgentFilters::default();
        filters.add(1, 0, &res("cpus:1"), 5.0);
        filters.add(1, 1, &res("cpus:1"), 5.0);
        filters.remove_framework(1, |role| role == 0);
        let in_role_0 = filters.applicable(0, &res("cpus:1"));
        let in_role_1 = filters.applicable(1, &res("cpus:1"));
        assert!(!filters.refuses(&in_role_0, 1));
        assert!(filters.refuses(&in_role_1, 1));
    }
}
