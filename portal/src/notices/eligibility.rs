//! 資格情報のお知らせ: one card per household member. Since paper insurance cards are gone,
//! this is how members see their 保険者番号・記号・番号; a copy handed to anyone else must not show
//! the 記号・番号 (the law limits who may ask for them), so print pages can mask them.

use super::household::Selection;
use crate::store::eligibility::EligibilityRow;
use crate::store::{self, Db, StoreResult};

/// What replaces the 記号, 番号 and 枝番 on a masked card.
pub const MASK: &str = "＊＊＊＊";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub insurer_number: String,
    pub symbol: String,
    pub number: String,
    pub branch: String,
    pub name: String,
    pub name_kana: String,
    pub birthdate: String,
    pub eligible_since: String,
    pub cost_share: i32,
    pub issued_on: String,
    pub imported_at: i64,
    /// 本人 (branch 00), kept when the branch is masked.
    pub insured: bool,
}

impl Card {
    fn from_row(r: EligibilityRow) -> Card {
        Card {
            insured: r.branch == "00",
            insurer_number: r.insurer_number,
            symbol: r.symbol,
            number: r.number,
            branch: r.branch,
            name: r.name,
            name_kana: r.name_kana,
            birthdate: r.birthdate,
            eligible_since: r.eligible_since,
            cost_share: r.cost_share,
            issued_on: r.issued_on,
            imported_at: r.imported_at,
        }
    }

    pub fn is_insured(&self) -> bool {
        self.insured
    }

    /// The card with 記号・番号・枝番 hidden.
    pub fn masked(mut self) -> Card {
        self.symbol = MASK.into();
        self.number = MASK.into();
        self.branch = MASK.into();
        self
    }
}

pub fn cards_in(c: &mut store::DbConn, sel: &Selection) -> StoreResult<Vec<Card>> {
    Ok(store::eligibility::list(c, &sel.key)?
        .into_iter()
        .filter(|r| sel.branch_str().is_none_or(|b| b == r.branch))
        .map(Card::from_row)
        .collect())
}

/// The household's cards (or one person's), insured person first.
pub async fn cards(db: &Db, sel: &Selection) -> StoreResult<Vec<Card>> {
    let sel = sel.clone();
    db.run(move |c| cards_in(c, &sel)).await
}
