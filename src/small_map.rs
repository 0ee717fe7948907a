//! `SmallMap`: a map that is a vector of pairs while it holds a few entries and a
//! boxed `HashMap` beyond. Most maps of a broker with many idle clients hold zero or
//! one entry (a trie node's children and subscribers, a session's subscriptions, its
//! QoS 2 packet ids), where a `HashMap` costs 48 bytes inline and at least four slots
//! plus control bytes on the heap; this costs 24 bytes inline and exactly the entries.
//! Lookups stay O(1) for big maps. Must not promise an iteration order.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Up to this many entries live in the vector.
const MAX_FEW: usize = 8;

/// A map for mostly tiny sizes. See the module documentation.
#[derive(Debug, Clone)]
pub enum SmallMap<K, V> {
    /// A few entries, searched linearly; one slot for the first, amortized growth after.
    Few(Vec<(K, V)>),
    /// Many entries.
    Many(Box<HashMap<K, V>>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap::Few(Vec::new())
    }
}

impl<K: Eq + Hash, V> SmallMap<K, V> {
    /// An empty map; allocates nothing.
    pub fn new() -> Self {
        SmallMap::default()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        match self {
            SmallMap::Few(v) => v.len(),
            SmallMap::Many(m) => m.len(),
        }
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(v) => v.iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v),
            SmallMap::Many(m) => m.get(key),
        }
    }

    /// The value under `key`, mutable.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(v) => v
                .iter_mut()
                .find(|(k, _)| k.borrow() == key)
                .map(|(_, v)| v),
            SmallMap::Many(m) => m.get_mut(key),
        }
    }

    /// True when `key` is in the map.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(old) = self.get_mut(&key) {
            return Some(std::mem::replace(old, value));
        }
        self.push_new(key, value);
        None
    }

    /// The value under `key`, inserting `make()` first if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let index = match self {
            SmallMap::Few(v) => v.iter().position(|(k, _)| *k == key),
            SmallMap::Many(m) => return m.entry(key).or_insert_with(make),
        };
        match index {
            Some(i) => match self {
                SmallMap::Few(v) => &mut v[i].1,
                SmallMap::Many(_) => unreachable!("checked above"),
            },
            None => self.push_new(key, make()),
        }
    }

    /// Adds an entry known not to be there.
    fn push_new(&mut self, key: K, value: V) -> &mut V {
        if let SmallMap::Few(v) = self {
            if v.len() >= MAX_FEW {
                let map: HashMap<K, V> = std::mem::take(v).into_iter().collect();
                *self = SmallMap::Many(Box::new(map));
            }
        }
        match self {
            SmallMap::Few(v) => {
                // Exactly one slot for the first entry (most of these maps never hold
                // more), amortized growth after that.
                if v.capacity() == 0 {
                    v.reserve_exact(1);
                }
                v.push((key, value));
                &mut v.last_mut().expect("just pushed").1
            }
            SmallMap::Many(m) => m.entry(key).or_insert(value),
        }
    }

    /// Removes and returns the value under `key`.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(v) => {
                let i = v.iter().position(|(k, _)| k.borrow() == key)?;
                Some(v.swap_remove(i).1)
            }
            SmallMap::Many(m) => m.remove(key),
        }
    }

    /// Removes every entry, keeping the memory (see `shrink_to_fit`).
    pub fn clear(&mut self) {
        match self {
            SmallMap::Few(v) => v.clear(),
            SmallMap::Many(m) => m.clear(),
        }
    }

    /// Gives back the memory it does not use; an empty map then holds none.
    pub fn shrink_to_fit(&mut self) {
        match self {
            SmallMap::Few(v) => v.shrink_to_fit(),
            SmallMap::Many(m) if m.is_empty() => *self = SmallMap::new(),
            SmallMap::Many(m) => m.shrink_to_fit(),
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let (few, many) = match self {
            SmallMap::Few(v) => (Some(v.iter().map(|(k, v)| (k, v))), None),
            SmallMap::Many(m) => (None, Some(m.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Takes every entry out, leaving the map empty (and its memory freed).
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> {
        let (few, many) = match std::mem::take(self) {
            SmallMap::Few(v) => (Some(v.into_iter()), None),
            SmallMap::Many(m) => (None, Some(m.into_iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

impl<K: Eq + Hash, V> Extend<(K, V)> for SmallMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Eq + Hash, V> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = SmallMap::new();
        map.extend(iter);
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_map_is_no_bigger_than_a_vector() {
        assert_eq!(
            std::mem::size_of::<SmallMap<u64, u64>>(),
            std::mem::size_of::<Vec<(u64, u64)>>()
        );
    }

    #[test]
    fn behaves_like_a_hash_map_across_the_switch() {
        let mut map = SmallMap::new();
        let mut reference = HashMap::new();
        for round in 0..3u32 {
            for i in 0..40u32 {
                let key = (i * 7 + round) % 23;
                assert_eq!(map.insert(key, i), reference.insert(key, i));
                if i % 3 == 0 {
                    let gone = (i * 5) % 23;
                    assert_eq!(map.remove(&gone), reference.remove(&gone));
                }
                assert_eq!(map.len(), reference.len());
            }
            for k in 0..23 {
                assert_eq!(map.get(&k), reference.get(&k));
                assert_eq!(map.contains_key(&k), reference.contains_key(&k));
            }
            let mut pairs: Vec<(u32, u32)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let mut expected: Vec<(u32, u32)> = reference.iter().map(|(k, v)| (*k, *v)).collect();
            pairs.sort();
            expected.sort();
            assert_eq!(pairs, expected);
        }
        let drained: usize = map.drain().count();
        assert_eq!(drained, reference.len());
        assert!(map.is_empty());
        map.insert(1, 1);
        map.clear();
        assert!(map.is_empty());
        map.shrink_to_fit();
        assert!(matches!(&map, SmallMap::Few(v) if v.capacity() == 0));
    }

    #[test]
    fn get_or_insert_with_makes_only_missing_values() {
        let mut map: SmallMap<String, Vec<u8>> = SmallMap::new();
        map.get_or_insert_with("a".into(), Vec::new).push(1);
        map.get_or_insert_with("a".into(), || panic!("exists"))
            .push(2);
        for i in 0..20 {
            map.get_or_insert_with(format!("k{i}"), Vec::new).push(i);
        }
        map.get_or_insert_with("a".into(), || panic!("exists"))
            .push(3);
        assert_eq!(map.get("a"), Some(&vec![1, 2, 3]));
        assert_eq!(map.get("k19"), Some(&vec![19]));
        assert_eq!(map.len(), 21);
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        assert_eq!(keys.len(), 21);
        assert_eq!(map.values().count(), 21);
        assert!(map.get_mut("k3").is_some());
    }
}
