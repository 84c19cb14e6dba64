//! The one way the adapter builds expressions: the text names every attribute as a `#name`
//! placeholder made from the consts in `attrs` (`format!("#{STATE} = :done")`), and
//! `names` derives the placeholder map from the text. Nothing else supplies names by hand,
//! so a placeholder can neither be forgotten nor sent unused (DynamoDB rejects both).

use super::attrs;
use std::collections::HashMap;

/// `#name` → `name` for every placeholder the expressions use, or `None` if they use none
/// (DynamoDB rejects an empty map too). Placeholders keep attribute names from clashing with
/// DynamoDB's reserved words.
pub(super) fn names(exprs: &[&str]) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    for e in exprs {
        for part in e.split('#').skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            debug_assert!(attrs::is_known(&name), "unknown attribute #{name} in {e:?}");
            out.insert(format!("#{name}"), name);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::attrs::{LEASE_EXPIRES, PK, REV, STATE};
    use super::names;

    #[test]
    fn names_cover_exactly_the_placeholders_used() {
        let update = format!("SET #{STATE} = :x, #{REV} = #{REV} + :one REMOVE #{LEASE_EXPIRES}");
        let cond = format!("attribute_exists(#{PK}) AND #{STATE} = :y");
        let p = names(&[&update, &cond]).unwrap();
        let mut keys: Vec<_> = p.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["#lease_expires", "#pk", "#rev", "#state"]);
        assert_eq!(p["#lease_expires"], "lease_expires");
        assert_eq!(names(&["a = :b"]), None);
    }
}
