//! An ordered header list with case-insensitive lookup.
//!
//! Owns: storage of header fields exactly as received or as they will be written (order and
//! spelling kept, duplicates allowed). Must not touch: framing rules such as
//! `Content-Length`, which live in `parse` and `message`.

/// Header fields in wire order. Lookups ignore ASCII case (`cseq` finds `CSeq`); names and
/// values are stored as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    /// The value of the first field called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of fields called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`: the first field with that name is replaced in place (keeping
    /// its position and the new spelling), later duplicates are dropped; if there is none,
    /// the field is appended.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self
            .entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                let mut index = 0;
                self.entries.retain(|(n, _)| {
                    let keep = index <= first || !n.eq_ignore_ascii_case(&name);
                    index += 1;
                    keep
                });
                if let Some(slot) = self.entries.get_mut(first) {
                    *slot = (name, value);
                }
            }
            None => self.entries.push((name, value)),
        }
    }

    /// Appends a field, even if one with the same name exists.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Removes every field called `name`; returns the first value removed.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let mut first = None;
        self.entries.retain(|(n, v)| {
            if n.eq_ignore_ascii_case(name) {
                if first.is_none() {
                    first = Some(v.clone());
                }
                false
            } else {
                true
            }
        });
        first
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a str, &'a str),
    >;

    fn into_iter(self) -> Self::IntoIter {
        fn pair(entry: &(String, String)) -> (&str, &str) {
            (entry.0.as_str(), entry.1.as_str())
        }
        self.entries.iter().map(pair)
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers {
            entries: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_keeps_spelling() {
        let mut h = Headers::new();
        h.push("CSeq", "3");
        h.push("Content-Type", "text/parameters");
        assert_eq!(h.get("cseq"), Some("3"));
        assert_eq!(h.get("CONTENT-TYPE"), Some("text/parameters"));
        assert_eq!(h.get("Server"), None);
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["CSeq", "Content-Type"]);
    }

    #[test]
    fn insert_replaces_first_in_place_and_drops_duplicates() {
        let mut h: Headers = [("A", "1"), ("x-dup", "a"), ("B", "2"), ("X-Dup", "b")]
            .into_iter()
            .collect();
        h.insert("X-DUP", "c");
        let all: Vec<(&str, &str)> = h.iter().collect();
        assert_eq!(all, [("A", "1"), ("X-DUP", "c"), ("B", "2")]);
        h.insert("New", "n");
        assert_eq!(h.iter().last(), Some(("New", "n")));
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn push_keeps_duplicates_and_remove_takes_all() {
        let mut h = Headers::new();
        h.push("Via", "a");
        h.push("via", "b");
        assert_eq!(h.get_all("VIA").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.remove("Via").as_deref(), Some("a"));
        assert!(h.is_empty());
        assert_eq!(h.remove("Via"), None);
    }

    #[test]
    fn borrowed_into_iter_matches_iter() {
        let h: Headers = [("One", "1"), ("Two", "2")].into_iter().collect();
        let via_for: Vec<(&str, &str)> = (&h).into_iter().collect();
        assert_eq!(via_for, h.iter().collect::<Vec<_>>());
    }
}
