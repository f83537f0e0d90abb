//! Demo notices for the IdP's demo members, so the embedded mode shows a living portal:
//! `demo` (記号 34, 番号 1234567, 健保 花子) and `first` (記号 12, 番号 3456789, 山田 太郎), each
//! with two dependants, from January of last year to two months ago. Months are relative to today, so the data never goes stale; seeding
//! again replaces the same months (the import's rules), so it is idempotent.

use crate::notices::{BenefitKind, MedicalCategory, Month, PaymentRoute, iso_date};
use crate::state::AppState;
use crate::store::benefits::BenefitRow;
use crate::store::eligibility::EligibilityRow;
use crate::store::medical::MedicalRow;
use crate::store::{self, Db, StoreResult};
use time::{Date, Duration};

/// The insurer number printed on demo cards (not a real union's).
pub const INSURER_NUMBER: &str = "06139999";
pub const IMPORT_ID: &str = "demo";

struct Person {
    branch: &'static str,
    name: &'static str,
    kana: &'static str,
    /// Years before today, and a day of the year.
    birth: (i32, u8, u8),
    share: i32,
}

struct Household {
    symbol: &'static str,
    number: &'static str,
    seed: u64,
    people: [Person; 3],
}

const HOUSEHOLDS: [Household; 2] = [
    Household {
        symbol: "34",
        number: "1234567",
        seed: 34,
        people: [
            Person {
                branch: "00",
                name: "健保 花子",
                kana: "ケンポ ハナコ",
                birth: (1975, 4, 15),
                share: 3,
            },
            Person {
                branch: "01",
                name: "健保 一郎",
                kana: "ケンポ イチロウ",
                birth: (1973, 9, 2),
                share: 3,
            },
            Person {
                branch: "02",
                name: "健保 さくら",
                kana: "ケンポ サクラ",
                birth: (2012, 6, 20),
                share: 3,
            },
        ],
    },
    Household {
        symbol: "12",
        number: "3456789",
        seed: 12,
        people: [
            Person {
                branch: "00",
                name: "山田 太郎",
                kana: "ヤマダ タロウ",
                birth: (1980, 12, 1),
                share: 3,
            },
            Person {
                branch: "01",
                name: "山田 花子",
                kana: "ヤマダ ハナコ",
                birth: (1983, 3, 3),
                share: 3,
            },
            Person {
                branch: "02",
                name: "山田 翔",
                kana: "ヤマダ ショウ",
                birth: (2021, 10, 10),
                share: 2,
            },
        ],
    },
];

const INSTITUTIONS: [(MedicalCategory, &str, i64); 8] = [
    (
        MedicalCategory::MedicalOutpatient,
        "けんぽ内科クリニック",
        6_000,
    ),
    (MedicalCategory::MedicalOutpatient, "みなと小児科", 4_500),
    (MedicalCategory::Pharmacy, "さくら調剤薬局", 3_800),
    (MedicalCategory::DentalOutpatient, "あおば歯科医院", 7_200),
    (MedicalCategory::Pharmacy, "ひまわり薬局 駅前店", 2_600),
    (MedicalCategory::MedicalOutpatient, "市立総合病院", 12_400),
    (MedicalCategory::Judo, "まちなか整骨院", 5_100),
    (MedicalCategory::Ahaki, "やすらぎ鍼灸院", 4_200),
];

/// A small deterministic generator (xorshift), so the demo looks the same at every start.
struct Dice(u64);
impl Dice {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn round10(n: i64) -> i64 {
    (n + 5) / 10 * 10
}

fn medical_row(
    h: &Household,
    p: &Person,
    month: Month,
    cat: MedicalCategory,
    inst: &str,
    days: i32,
    total: i64,
) -> MedicalRow {
    let total = round10(total);
    let own = round10(total * i64::from(p.share) / 10);
    MedicalRow {
        symbol: h.symbol.into(),
        number: h.number.into(),
        treatment_month: month.yyyymm(),
        branch: p.branch.into(),
        category: cat.code().into(),
        institution: inst.into(),
        patient_name: p.name.into(),
        days,
        total_cost: total,
        insurer_paid: total - own,
        public_subsidy: 0,
        own_share: own,
        import_id: IMPORT_ID.into(),
        imported_at: 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn benefit(
    h: &Household,
    p: &Person,
    kind: BenefitKind,
    from: String,
    to: String,
    decided: Date,
    amount: i64,
    route: PaymentRoute,
) -> BenefitRow {
    let paid = decided + Duration::days(20);
    BenefitRow {
        symbol: h.symbol.into(),
        number: h.number.into(),
        payment_month: Month::of(paid).yyyymm(),
        branch: p.branch.into(),
        kind: kind.code().into(),
        covered_from: from,
        covered_to: to,
        person_name: p.name.into(),
        decision_date: iso_date(decided),
        payment_date: iso_date(paid),
        amount,
        route: route.code().into(),
        import_id: IMPORT_ID.into(),
        imported_at: 0,
    }
}

/// Every demo row, for `today` and stamped with `now`.
pub fn rows(today: Date, now: i64) -> (Vec<MedicalRow>, Vec<BenefitRow>, Vec<EligibilityRow>) {
    let latest = Month::of(today).minus(2);
    let (mut medical, mut benefits, mut cards) = (Vec::new(), Vec::new(), Vec::new());
    for h in &HOUSEHOLDS {
        let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ h.seed);
        // Every month from January of last year (a full year for the deduction statement).
        let months = 12 + i32::from(latest.month());
        for back in 0..months {
            let month = latest.minus(back);
            for p in &h.people {
                // Each person sees one to three places a month, sometimes none.
                let visits = dice.next(4);
                let mut used = Vec::new();
                for _ in 0..visits {
                    let i = dice.next(INSTITUTIONS.len() as u64) as usize;
                    if used.contains(&i) {
                        continue;
                    }
                    used.push(i);
                    let (cat, inst, base) = INSTITUTIONS[i];
                    let days = 1 + dice.next(3) as i32;
                    let total = base * i64::from(days) + dice.next(40) as i64 * 100;
                    medical.push(medical_row(h, p, month, cat, inst, days, total));
                }
            }
        }
        // One stay in hospital for the insured person, four months before the latest month:
        // the high-cost benefit and the union's refund follow from it.
        let stay = latest.minus(4);
        let insured = &h.people[0];
        medical.push(medical_row(
            h,
            insured,
            stay,
            MedicalCategory::MedicalInpatient,
            "市立総合病院",
            9,
            852_300,
        ));
        medical.push(medical_row(
            h,
            insured,
            stay,
            MedicalCategory::Pharmacy,
            "さくら調剤薬局",
            1,
            9_800,
        ));
        let decided = stay.minus(-3).first_day().unwrap_or(today) + Duration::days(9);
        let stay_text = stay.iso();
        benefits.push(benefit(
            h,
            insured,
            BenefitKind::HighCost,
            stay_text.clone(),
            stay_text.clone(),
            decided,
            167_122,
            PaymentRoute::Employer,
        ));
        benefits.push(benefit(
            h,
            insured,
            BenefitKind::CopayRefund,
            stay_text.clone(),
            stay_text,
            decided,
            62_500,
            PaymentRoute::Employer,
        ));
        // A child's month above the union's threshold.
        let child = &h.people[2];
        let child_month = latest.minus(7);
        medical.push(medical_row(
            h,
            child,
            child_month,
            MedicalCategory::MedicalOutpatient,
            "みなと小児科",
            6,
            96_400,
        ));
        let decided = child_month.minus(-3).first_day().unwrap_or(today) + Duration::days(12);
        benefits.push(benefit(
            h,
            child,
            BenefitKind::FamilyExtra,
            child_month.iso(),
            child_month.iso(),
            decided,
            3_900,
            PaymentRoute::Direct,
        ));
        for p in &h.people {
            let birthdate = Date::from_calendar_date(
                p.birth.0,
                time::Month::try_from(p.birth.1).unwrap_or(time::Month::January),
                p.birth.2,
            )
            .unwrap_or(today);
            let since = if p.birth.0 > 2010 {
                birthdate
            } else {
                Date::from_calendar_date(2015, time::Month::April, 1).unwrap_or(today)
            };
            cards.push(EligibilityRow {
                symbol: h.symbol.into(),
                number: h.number.into(),
                branch: p.branch.into(),
                insurer_number: INSURER_NUMBER.into(),
                name: p.name.into(),
                name_kana: p.kana.into(),
                birthdate: iso_date(birthdate),
                eligible_since: iso_date(since),
                cost_share: p.share,
                issued_on: iso_date(today - Duration::days(40)),
                import_id: IMPORT_ID.into(),
                imported_at: now,
            });
        }
    }
    // The second household had a baby: the childbirth lump sum, and a period of sick pay for
    // the first household's insured person.
    let first = &HOUSEHOLDS[1];
    let born = Date::from_calendar_date(2021, time::Month::October, 10).unwrap_or(today);
    benefits.push(benefit(
        first,
        &first.people[2],
        BenefitKind::Childbirth,
        iso_date(born),
        iso_date(born),
        born + Duration::days(30),
        420_000,
        PaymentRoute::Direct,
    ));
    let demo = &HOUSEHOLDS[0];
    let ill = latest.minus(9).first_day().unwrap_or(today);
    benefits.push(benefit(
        demo,
        &demo.people[0],
        BenefitKind::SickPay,
        iso_date(ill),
        iso_date(ill + Duration::days(29)),
        ill + Duration::days(45),
        186_660,
        PaymentRoute::Direct,
    ));
    // The explicit rows (pushed last) win over random ones for the same place and month.
    let mut seen = std::collections::HashSet::new();
    medical.reverse();
    medical.retain(|r| {
        seen.insert((
            r.symbol.clone(),
            r.number.clone(),
            r.treatment_month,
            r.branch.clone(),
            r.category.clone(),
            r.institution.clone(),
        ))
    });
    medical.reverse();
    for r in &mut medical {
        r.imported_at = now;
    }
    for r in &mut benefits {
        r.imported_at = now;
    }
    (medical, benefits, cards)
}

/// Writes the demo notices (replacing the demo months and households).
pub async fn seed_db(db: &Db, today: Date, now: i64) -> StoreResult<usize> {
    let (medical, benefits, cards) = rows(today, now);
    let n = medical.len() + benefits.len() + cards.len();
    db.tx(move |c| {
        store::medical::replace_months(c, &medical)?;
        store::benefits::replace_months(c, &benefits)?;
        store::eligibility::replace_households(c, &cards)?;
        Ok(())
    })
    .await?;
    Ok(n)
}

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let n = seed_db(&state.db, state.today(), state.now()).await?;
    tracing::info!(rows = n, "demo notices written");
    Ok(())
}
