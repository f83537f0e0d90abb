//! Amounts of yen as members read them.

/// Sums of a set of medical-cost rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows: i64,
    pub days: i64,
    pub total_cost: i64,
    pub insurer_paid: i64,
    pub public_subsidy: i64,
    pub own_share: i64,
}

impl Totals {
    pub fn add(&mut self, days: i64, total: i64, insurer: i64, public: i64, own: i64) {
        self.rows += 1;
        self.days += days;
        self.total_cost += total;
        self.insurer_paid += insurer;
        self.public_subsidy += public;
        self.own_share += own;
    }
}

/// `12,345`: digits grouped by thousands (both languages).
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12,345円` / `¥12,345`.
pub fn yen(n: i64, lang: kenpo_shared::Lang) -> String {
    match lang {
        kenpo_shared::Lang::Ja => format!("{}円", grouped(n)),
        kenpo_shared::Lang::En => format!("¥{}", grouped(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(-1234), "-1,234");
        assert_eq!(yen(1500, kenpo_shared::Lang::Ja), "1,500円");
    }
}
