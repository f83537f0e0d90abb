//! Staff search over members (the console's `staff-members` page): by user ID, 記号・番号,
//! name, kana or email, NFKC-normalised, paged.

use super::StoreResult;
use super::members::{Member, MemberStore};
use super::schema::members::dsl as m;
use diesel::prelude::*;

/// A parsed staff search: words that must all match somewhere, or one 記号・番号 pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberQuery {
    pub terms: Vec<String>,
    pub symbol_number: Option<(String, String)>,
}

impl MemberQuery {
    /// Normalises (NFKC, so full-width digits and half-width kana match) and splits the input;
    /// `12-3456789` is read as 記号 and 番号. Spaces inside a name do not matter: each word is
    /// matched on its own.
    pub fn parse(input: &str) -> MemberQuery {
        let text = kenpo_shared::ids::normalize(input);
        let text = text.trim();
        if let Some((s, n)) = text.split_once(['-', '－'])
            && !s.is_empty()
            && !n.is_empty()
            && s.chars().all(|c| c.is_ascii_digit())
            && n.chars().all(|c| c.is_ascii_digit())
        {
            return MemberQuery {
                terms: Vec::new(),
                symbol_number: Some((s.to_string(), n.to_string())),
            };
        }
        MemberQuery {
            terms: text
                .split_whitespace()
                .take(4)
                .map(|t| t.chars().take(64).collect())
                .collect(),
            symbol_number: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.symbol_number.is_none()
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl MemberStore {
    /// Members matching a staff search, by user ID, 記号・番号 (`12-3456789`, `12 3456789`, or
    /// either part), name, kana or email; ordered by user ID, one page of `limit` after
    /// `offset`. Returns the page and whether more follow.
    pub async fn search(
        &self,
        query: &MemberQuery,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<Member>, bool)> {
        let q = query.clone();
        self.db
            .run(move |c| {
                let mut sql = m::members.select(Member::as_select()).into_boxed();
                for term in &q.terms {
                    let like = format!("%{}%", escape_like(term));
                    let lower = like.to_ascii_lowercase();
                    sql = sql.filter(
                        m::user_id_key
                            .like(lower.clone())
                            .escape('\\')
                            .or(m::name.like(like.clone()).escape('\\'))
                            .or(m::name_kana.like(like.clone()).escape('\\'))
                            .or(m::email.like(lower).escape('\\'))
                            .or(m::symbol.eq(term.clone()))
                            .or(m::number.eq(term.clone())),
                    );
                }
                if let Some((s, n)) = &q.symbol_number {
                    sql = sql.or_filter(m::symbol.eq(s.clone()).and(m::number.eq(n.clone())));
                }
                let mut rows: Vec<Member> = sql
                    .order(m::user_id_key.asc())
                    .offset(offset)
                    .limit(limit + 1)
                    .load(c)?;
                let more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                Ok((rows, more))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::MemberQuery;

    #[test]
    fn searches_are_normalised_and_split() {
        let q = MemberQuery::parse("１２－３４５６７８９");
        assert_eq!(
            q.symbol_number,
            Some(("12".into(), "3456789".into())),
            "full-width 記号・番号"
        );
        let q = MemberQuery::parse("  ﾔﾏﾀﾞ　ﾀﾛｳ ");
        assert_eq!(
            q.terms,
            vec!["ヤマダ", "タロウ"],
            "half-width kana and an ideographic space"
        );
        assert!(MemberQuery::parse("   ").is_empty());
        assert_eq!(
            MemberQuery::parse("a b c d e f").terms.len(),
            4,
            "at most four words"
        );
    }
}
