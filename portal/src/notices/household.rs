//! Who is in a household, and the one rule that keeps members apart: a request may narrow the
//! signed-in member's household to one person, never widen it or name another household.

use crate::store::{self, Db, DbConn, StoreResult};
use kenpo_shared::ids::{Branch, MemberKey, normalize};
use std::collections::BTreeMap;

/// A person (枝番) of the household, as the notices name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub branch: String,
    pub name: String,
}

impl Person {
    pub fn is_insured(&self) -> bool {
        self.branch == "00"
    }
}

/// The people that appear in any notice of the household, insured person first. Eligibility
/// names win over the names printed on older notices.
pub fn persons_in(c: &mut DbConn, key: &MemberKey) -> StoreResult<Vec<Person>> {
    let mut by_branch: BTreeMap<String, String> = BTreeMap::new();
    for (branch, name) in store::medical::persons(c, key)?
        .into_iter()
        .chain(store::benefits::persons(c, key)?)
    {
        by_branch.entry(branch).or_insert(name);
    }
    for row in store::eligibility::list(c, key)? {
        by_branch.insert(row.branch, row.name);
    }
    Ok(by_branch
        .into_iter()
        .map(|(branch, name)| Person { branch, name })
        .collect())
}

pub async fn persons(db: &Db, key: &MemberKey) -> StoreResult<Vec<Person>> {
    let key = key.clone();
    db.run(move |c| persons_in(c, &key)).await
}

/// Identifiers a request carried (query string or form), before any check.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Asked {
    pub symbol: Option<String>,
    pub number: Option<String>,
    pub branch: Option<String>,
}

/// What a page may show: the member's own household, optionally one person of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub key: MemberKey,
    pub branch: Option<Branch>,
}

impl Selection {
    pub fn branch_str(&self) -> Option<&str> {
        self.branch.as_ref().map(Branch::as_str)
    }
}

/// The request named something that is not the member's (or does not exist): the page answers
/// "not found", exactly as for a page that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not found")]
pub struct NotFound;

/// Narrows `own` (from the verified ID token) by what the request asked. A 記号 or 番号 other
/// than the member's own, or a 枝番 nobody in the household has, is not found. Empty values
/// count as absent (a form's "everyone" choice).
pub fn select(own: &MemberKey, asked: &Asked, persons: &[Person]) -> Result<Selection, NotFound> {
    let present = |v: &Option<String>| v.as_deref().map(normalize).filter(|s| !s.is_empty());
    if let Some(symbol) = present(&asked.symbol)
        && symbol != own.symbol.as_str()
    {
        return Err(NotFound);
    }
    if let Some(number) = present(&asked.number)
        && number != own.number.as_str()
    {
        return Err(NotFound);
    }
    let branch = match present(&asked.branch) {
        None => None,
        Some(b) => {
            let b = Branch::parse(&b).map_err(|_| NotFound)?;
            if !persons.iter().any(|p| p.branch == b.as_str()) {
                return Err(NotFound);
            }
            Some(b)
        }
    };
    Ok(Selection {
        key: own.clone(),
        branch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kenpo_shared::ids::{MemberNumber, MemberSymbol};

    fn key(s: &str, n: &str) -> MemberKey {
        MemberKey {
            symbol: MemberSymbol::parse(s).unwrap(),
            number: MemberNumber::parse(n).unwrap(),
        }
    }

    fn asked(symbol: Option<&str>, number: Option<&str>, branch: Option<&str>) -> Asked {
        Asked {
            symbol: symbol.map(String::from),
            number: number.map(String::from),
            branch: branch.map(String::from),
        }
    }

    #[test]
    fn only_the_own_household_and_its_people() {
        let own = key("34", "1234567");
        let people = vec![
            Person {
                branch: "00".into(),
                name: "a".into(),
            },
            Person {
                branch: "01".into(),
                name: "b".into(),
            },
        ];
        assert_eq!(
            select(&own, &Asked::default(), &people).unwrap().branch,
            None
        );
        assert_eq!(
            select(
                &own,
                &asked(Some("３４"), Some("1234567"), Some("01")),
                &people
            )
            .unwrap()
            .branch_str(),
            Some("01")
        );
        assert_eq!(
            select(&own, &asked(None, None, Some("")), &people)
                .unwrap()
                .branch,
            None
        );
        for bad in [
            asked(Some("12"), None, None),
            asked(None, Some("3456789"), None),
            asked(Some("12"), Some("3456789"), Some("00")),
            asked(None, None, Some("02")),
            asked(None, None, Some("1")),
            asked(None, None, Some("x1")),
        ] {
            assert_eq!(select(&own, &bad, &people), Err(NotFound), "{bad:?}");
        }
    }
}
