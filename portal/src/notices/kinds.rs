//! The closed vocabularies of notices, each with a stable code (stored, and accepted by the
//! import beside the Japanese names union systems print) and its labels.

use kenpo_shared::Lang;

macro_rules! vocabulary {
    (
        $(#[$doc:meta])* $name:ident {
            $($variant:ident = $code:literal, $ja:literal, $en:literal, [$($alias:literal),*];)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn label(self, lang: Lang) -> &'static str {
                match self { $($name::$variant => lang.pick($ja, $en)),+ }
            }

            /// The stored code.
            pub fn from_code(code: &str) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// A value from an import file: the code, the Japanese name or a known alias.
            /// Full-width characters and spaces are normalised first.
            pub fn parse(input: &str) -> Option<$name> {
                let s: String = kenpo_shared::normalize(input)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let lower = s.to_ascii_lowercase();
                $(
                    if lower == $code || s == $ja $(|| s == $alias)* {
                        return Some($name::$variant);
                    }
                )+
                None
            }

            /// The Japanese names, for error messages and documentation.
            pub fn names() -> String {
                [$($ja),+].join("、")
            }
        }
    };
}

vocabulary! {
    /// 区分 of a medical-cost row (the kind of レセプト).
    MedicalCategory {
        MedicalInpatient = "medical_inpatient", "医科入院", "Hospital (inpatient)", ["医科(入院)", "入院"];
        MedicalOutpatient = "medical_outpatient", "医科外来", "Clinic (outpatient)", ["医科(外来)", "外来", "入院外", "医科入院外"];
        DentalInpatient = "dental_inpatient", "歯科入院", "Dental (inpatient)", ["歯科(入院)"];
        DentalOutpatient = "dental_outpatient", "歯科外来", "Dental (outpatient)", ["歯科(外来)", "歯科", "歯科入院外"];
        Pharmacy = "pharmacy", "調剤", "Pharmacy", ["薬局", "調剤薬局"];
        HomeNursing = "home_nursing", "訪問看護", "Home nursing", [];
        Judo = "judo", "柔整", "Judo therapy (bone-setting)", ["柔道整復", "柔道整復師"];
        Ahaki = "ahaki", "あはき", "Acupuncture, moxibustion and massage", ["はり・きゅう", "あん摩マッサージ", "鍼灸", "はり・きゅう・あん摩マッサージ"];
        Appliance = "appliance", "療養費", "Reimbursed costs (e.g. medical appliances)", ["補装具", "治療用装具"];
    }
}

vocabulary! {
    /// 給付の種類 of a benefit payment.
    BenefitKind {
        HighCost = "high_cost", "高額療養費", "High-cost medical expense benefit", [];
        CopayRefund = "copay_refund", "一部負担還元金", "Co-payment refund (union extra)", ["一部負担金還元金"];
        FamilyExtra = "family_extra", "家族療養費付加金", "Dependants' medical extra benefit", ["家族療養付加金"];
        CombinedExtra = "combined_extra", "合算高額療養費付加金", "Combined high-cost extra benefit", [];
        Reimbursement = "reimbursement", "療養費", "Reimbursement of medical costs paid in full", [];
        Childbirth = "childbirth", "出産育児一時金", "Childbirth and childcare lump sum", ["家族出産育児一時金"];
        SickPay = "sick_pay", "傷病手当金", "Sickness and injury allowance", [];
        MaternityPay = "maternity_pay", "出産手当金", "Maternity allowance", [];
        Funeral = "funeral", "埋葬料", "Funeral expenses", ["家族埋葬料", "埋葬費"];
    }
}

vocabulary! {
    /// How a benefit reached the member.
    PaymentRoute {
        Employer = "employer", "事業主経由", "Via your employer", ["事業主", "会社経由", "勤務先経由"];
        Direct = "direct", "ご指定の口座へ直接", "Directly to your bank account", ["直接", "直接振込", "口座振込", "本人口座"];
    }
}

impl MedicalCategory {
    /// The column of the National Tax Agency's 医療費集計フォーム this category belongs in.
    pub fn nta_class(self, lang: Lang) -> &'static str {
        match self {
            MedicalCategory::MedicalInpatient
            | MedicalCategory::MedicalOutpatient
            | MedicalCategory::DentalInpatient
            | MedicalCategory::DentalOutpatient => lang.pick("診療・治療", "Treatment"),
            MedicalCategory::Pharmacy => lang.pick("医薬品購入", "Medicines"),
            MedicalCategory::HomeNursing
            | MedicalCategory::Judo
            | MedicalCategory::Ahaki
            | MedicalCategory::Appliance => lang.pick("その他の医療費", "Other medical costs"),
        }
    }
}

impl BenefitKind {
    /// Whether the payment reimburses medical costs (補填される金額 in the tax deduction),
    /// rather than replacing income.
    pub fn offsets_medical_costs(self) -> bool {
        matches!(
            self,
            BenefitKind::HighCost
                | BenefitKind::CopayRefund
                | BenefitKind::FamilyExtra
                | BenefitKind::CombinedExtra
                | BenefitKind::Reimbursement
        )
    }

    /// One sentence on what the benefit is, in plain words.
    pub fn explain(self, lang: Lang) -> &'static str {
        match self {
            BenefitKind::HighCost => lang.pick(
                "1か月に医療機関の窓口で支払った額が自己負担限度額を超えたとき、超えた分をお返しするものです。",
                "When what you paid at the counter in one month exceeds your monthly limit, the excess is paid back.",
            ),
            BenefitKind::CopayRefund => lang.pick(
                "組合独自の給付です。ご本人の1か月の自己負担が一定額を超えた分をお返しします。",
                "A benefit of this union: part of the insured person's monthly co-payment above a set amount is paid back.",
            ),
            BenefitKind::FamilyExtra => lang.pick(
                "組合独自の給付です。ご家族の1か月の自己負担が一定額を超えた分をお返しします。",
                "A benefit of this union: part of a dependant's monthly co-payment above a set amount is paid back.",
            ),
            BenefitKind::CombinedExtra => lang.pick(
                "同じ月に複数の医療機関でかかった自己負担を合算して、一定額を超えた分をお返しするものです。",
                "Co-payments at several institutions in the same month are added up and the part above a set amount is paid back.",
            ),
            BenefitKind::Reimbursement => lang.pick(
                "いったん全額を支払った医療費（治療用装具など）のうち、組合が負担する分をお支払いするものです。",
                "For costs you first paid in full (such as a medical appliance), the union's share is paid to you.",
            ),
            BenefitKind::Childbirth => lang.pick(
                "出産したときに支給される一時金です。",
                "A lump sum paid when a child is born.",
            ),
            BenefitKind::SickPay => lang.pick(
                "病気やけがで仕事を休み、給与が受けられない期間の生活を支えるための手当金です。",
                "An allowance while you cannot work and receive no pay because of illness or injury.",
            ),
            BenefitKind::MaternityPay => lang.pick(
                "出産のために仕事を休み、給与が受けられない期間の手当金です。",
                "An allowance while you are off work for childbirth and receive no pay.",
            ),
            BenefitKind::Funeral => lang.pick(
                "被保険者またはご家族が亡くなられたときに支給されるものです。",
                "Paid when the insured person or a dependant dies.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_values_are_recognised() {
        let categories = [
            ("医科入院", Some(MedicalCategory::MedicalInpatient)),
            (" 調剤 ", Some(MedicalCategory::Pharmacy)),
            ("PHARMACY", Some(MedicalCategory::Pharmacy)),
            ("医科（外来）", Some(MedicalCategory::MedicalOutpatient)),
            ("眼科", None),
        ];
        for (input, expected) in categories {
            assert_eq!(MedicalCategory::parse(input), expected, "{input:?}");
        }
        assert_eq!(
            BenefitKind::parse("高額療養費"),
            Some(BenefitKind::HighCost)
        );
        assert_eq!(PaymentRoute::parse("直接"), Some(PaymentRoute::Direct));
        for c in MedicalCategory::ALL {
            assert_eq!(MedicalCategory::from_code(c.code()), Some(*c));
            assert_eq!(MedicalCategory::parse(c.label(Lang::Ja)), Some(*c));
        }
        for k in BenefitKind::ALL {
            assert_eq!(BenefitKind::parse(k.label(Lang::Ja)), Some(*k));
        }
    }
}
