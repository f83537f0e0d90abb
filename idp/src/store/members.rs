//! Members (insured persons with an account) and their onboarding state.
//!
//! The initial password (記号 + 番号 + birthdate) is never stored: while
//! `initial_password_since` is set and `password_hash` is empty, the IdP recomputes it from the
//! member's own data. Hashing it at import would cost a hash per member (100,000 members: half
//! an hour) and protect nothing, because it is derived from data in the same row.

use super::schema::members::dsl as m;
use super::{Db, StoreError, StoreResult};
use diesel::prelude::*;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId};

/// A member by internal ID, on a connection already held (to read along with other tables).
pub(crate) fn find(c: &mut super::DbConn, id: &str) -> QueryResult<Option<Member>> {
    m::members
        .find(id)
        .select(Member::as_select())
        .first(c)
        .optional()
}

#[derive(Clone, Default, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::members)]
pub struct Member {
    pub id: String,
    pub user_id: String,
    pub user_id_key: String,
    pub subject: String,
    pub symbol: String,
    pub number: String,
    pub birthdate: String,
    pub name: String,
    pub name_kana: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub locale: Option<String>,
    pub password_hash: Option<String>,
    pub initial_password_since: Option<i64>,
    pub birthdate_confirmed_at: Option<i64>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<i64>,
    pub chosen_factor: Option<String>,
    pub preferred_factor: Option<String>,
    pub email_otp_enabled: bool,
    pub onboarded_at: Option<i64>,
    pub password_changed_at: Option<i64>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set by staff when the member left the union: no sign-in until re-enabled.
    pub disabled_at: Option<i64>,
    /// Set by a password reset by mail: the next sign-in needs the strongest factor.
    pub strong_factor_due: Option<i64>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// 記号 + 番号 + birthdate as YYYYMMDD (the SPEC's initial password).
    pub fn initial_password(&self) -> String {
        format!(
            "{}{}{}",
            self.symbol,
            self.number,
            self.birthdate.replace('-', "")
        )
    }

    /// Whether the member still signs in with the initial password.
    pub fn uses_initial_password(&self) -> bool {
        self.password_hash.is_none() && self.initial_password_since.is_some()
    }

    pub fn birthdate(&self) -> Option<time::Date> {
        time::Date::parse(
            &self.birthdate,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
    }
}

/// A validated member record from an import.
#[derive(Debug, Clone)]
pub struct ImportedMember {
    pub user_id: UserId,
    pub symbol: MemberSymbol,
    pub number: MemberNumber,
    pub birthdate: time::Date,
    pub name: String,
    pub name_kana: String,
    pub email: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
}

/// Why an import row cannot be stored (it clashes with another member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportConflict {
    pub index: usize,
    pub message: String,
}

pub struct MemberStore {
    pub(super) db: Db,
}

fn date_string(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl MemberStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn by_user_id(&self, user_id: &UserId) -> StoreResult<Option<Member>> {
        let key = user_id.lookup_key();
        let q = m::members
            .filter(m::user_id_key.eq(key))
            .select(Member::as_select());
        self.db.first(q).await
    }

    pub async fn by_id(&self, id: &str) -> StoreResult<Option<Member>> {
        let id = id.to_string();
        self.db.query(move |c| find(c, &id)).await
    }

    pub async fn by_subject(&self, subject: &str) -> StoreResult<Option<Member>> {
        let q = m::members
            .filter(m::subject.eq(subject.to_string()))
            .select(Member::as_select());
        self.db.first(q).await
    }

    /// Members whose verified address is `email` (case-insensitive), for "forgot user ID".
    pub async fn by_verified_email(&self, email: &str) -> StoreResult<Vec<Member>> {
        let e = email.to_ascii_lowercase();
        let q = m::members
            .filter(m::email.eq(e))
            .filter(m::email_verified.eq(true))
            .select(Member::as_select());
        self.db.load(q).await
    }

    /// Applies an import in one transaction: new user IDs are created with an initial
    /// password valid from `now`; known ones are updated (a verified email the member chose
    /// is kept). Any clash aborts the whole import.
    pub async fn import(
        &self,
        rows: Vec<ImportedMember>,
        now: i64,
    ) -> StoreResult<Result<ImportSummary, Vec<ImportConflict>>> {
        Ok(self.import_detailed(rows, now).await?.map(|(s, _)| s))
    }

    /// [`MemberStore::import`], also naming each row's member and whether it was created
    /// (the console records an import's members to print their letters).
    pub async fn import_detailed(
        &self,
        rows: Vec<ImportedMember>,
        now: i64,
    ) -> StoreResult<Result<(ImportSummary, Vec<(String, bool)>), Vec<ImportConflict>>> {
        self.db
            .run(move |c| {
                let mut conflicts = Vec::new();
                let result = kenpo_shared::db::write_tx::<_, StoreError, _>(c, |c| {
                    let mut summary = ImportSummary::default();
                    let mut outcome = Vec::with_capacity(rows.len());
                    for (index, r) in rows.iter().enumerate() {
                        let key = r.user_id.lookup_key();
                        let existing: Option<Member> = m::members
                            .filter(m::user_id_key.eq(&key))
                            .select(Member::as_select())
                            .first(c)
                            .optional()?;
                        let holder: Option<String> = m::members
                            .filter(m::symbol.eq(r.symbol.as_str()))
                            .filter(m::number.eq(r.number.as_str()))
                            .select(m::user_id)
                            .first(c)
                            .optional()?;
                        if let Some(other) = holder.filter(|h| h.to_ascii_lowercase() != key) {
                            conflicts.push(ImportConflict {
                                index,
                                message: format!(
                                    "記号・番号 {}-{} already belongs to user ID {other}",
                                    r.symbol, r.number
                                ),
                            });
                            continue;
                        }
                        let email = r.email.as_ref().map(|e| e.to_ascii_lowercase());
                        match existing {
                            Some(cur) => {
                                let keep_email = cur.email_verified && cur.email.is_some();
                                diesel::update(m::members.find(&cur.id))
                                    .set((
                                        m::user_id.eq(r.user_id.as_str()),
                                        m::symbol.eq(r.symbol.as_str()),
                                        m::number.eq(r.number.as_str()),
                                        m::birthdate.eq(date_string(r.birthdate)),
                                        m::name.eq(&r.name),
                                        m::name_kana.eq(&r.name_kana),
                                        m::updated_at.eq(now),
                                    ))
                                    .execute(c)?;
                                if !keep_email {
                                    diesel::update(m::members.find(&cur.id))
                                        .set(m::email.eq(&email))
                                        .execute(c)?;
                                }
                                outcome.push((cur.id.clone(), false));
                                summary.updated += 1;
                            }
                            None => {
                                let id = uuid::Uuid::new_v4().to_string();
                                outcome.push((id.clone(), true));
                                diesel::insert_into(m::members)
                                    .values(&Member {
                                        id,
                                        user_id: r.user_id.as_str().into(),
                                        user_id_key: key,
                                        subject: uuid::Uuid::new_v4().to_string(),
                                        symbol: r.symbol.as_str().into(),
                                        number: r.number.as_str().into(),
                                        birthdate: date_string(r.birthdate),
                                        name: r.name.clone(),
                                        name_kana: r.name_kana.clone(),
                                        email,
                                        email_verified: false,
                                        locale: None,
                                        password_hash: None,
                                        initial_password_since: Some(now),
                                        birthdate_confirmed_at: None,
                                        terms_version: None,
                                        terms_accepted_at: None,
                                        chosen_factor: None,
                                        preferred_factor: None,
                                        email_otp_enabled: false,
                                        onboarded_at: None,
                                        password_changed_at: None,
                                        last_login_at: None,
                                        created_at: now,
                                        updated_at: now,
                                        disabled_at: None,
                                        strong_factor_due: None,
                                    })
                                    .execute(c)?;
                                summary.created += 1;
                            }
                        }
                    }
                    if conflicts.is_empty() {
                        Ok((summary, outcome))
                    } else {
                        // Abort: nothing of this import is kept.
                        Err(StoreError::Corrupt("import conflicts".into()))
                    }
                });
                match result {
                    Ok(s) => Ok(Ok(s)),
                    Err(_) if !conflicts.is_empty() => Ok(Err(conflicts)),
                    Err(e) => Err(e),
                }
            })
            .await
    }

    /// Stores a password the member chose; the initial password stops working.
    pub async fn set_password(&self, id: &str, hash: String, now: i64) -> StoreResult<()> {
        let q = diesel::update(m::members.find(id.to_string())).set((
            m::password_hash.eq(Some(hash)),
            m::initial_password_since.eq(None::<i64>),
            m::password_changed_at.eq(Some(now)),
            m::updated_at.eq(now),
        ));
        self.db.execute(q).await.map(drop)
    }

    /// Records (`Some`) or clears (`None`) that the next sign-in needs the strongest factor.
    pub async fn set_strong_factor_due(&self, id: &str, due: Option<i64>) -> StoreResult<()> {
        let q = diesel::update(m::members.find(id.to_string())).set(m::strong_factor_due.eq(due));
        self.db.execute(q).await.map(drop)
    }

    /// Replaces a hash made with weaker parameters (same password, no other change), only if
    /// the stored hash is still `old`: a password change or reset that happened while the
    /// sign-in was verifying is never undone. True when replaced.
    pub async fn rehash(&self, id: &str, old: &str, hash: String) -> StoreResult<bool> {
        let (id, old) = (id.to_string(), old.to_string());
        self.db
            .run(move |c| {
                Ok(
                    diesel::update(m::members.find(id).filter(m::password_hash.eq(Some(old))))
                        .set(m::password_hash.eq(Some(hash)))
                        .execute(c)?
                        == 1,
                )
            })
            .await
    }

    /// Staff reset: the initial password works again from `now` (one member, or everyone when
    /// `user_id` is None). Returns how many members were reset.
    pub async fn reset_password(&self, user_id: Option<&UserId>, now: i64) -> StoreResult<usize> {
        let key = user_id.map(|u| u.lookup_key());
        self.db
            .run(move |c| {
                let set = (
                    m::password_hash.eq(None::<String>),
                    m::initial_password_since.eq(Some(now)),
                    m::updated_at.eq(now),
                );
                Ok(match key {
                    Some(k) => diesel::update(m::members.filter(m::user_id_key.eq(k)))
                        .set(set)
                        .execute(c)?,
                    None => diesel::update(m::members).set(set).execute(c)?,
                })
            })
            .await
    }

    pub async fn confirm_birthdate(&self, id: &str, now: i64) -> StoreResult<()> {
        let q = diesel::update(m::members.find(id.to_string())).set((
            m::birthdate_confirmed_at.eq(Some(now)),
            m::updated_at.eq(now),
        ));
        self.db.execute(q).await.map(drop)
    }

    pub async fn accept_terms(&self, id: &str, version: &str, now: i64) -> StoreResult<()> {
        let v = version.to_string();
        let q = diesel::update(m::members.find(id.to_string())).set((
            m::terms_version.eq(Some(v)),
            m::terms_accepted_at.eq(Some(now)),
            m::updated_at.eq(now),
        ));
        self.db.execute(q).await.map(drop)
    }

    /// Sets the address; `verified` says whether the member proved they read it.
    pub async fn set_email(
        &self,
        id: &str,
        email: &str,
        verified: bool,
        now: i64,
    ) -> StoreResult<()> {
        let e = email.to_ascii_lowercase();
        let q = diesel::update(m::members.find(id.to_string())).set((
            m::email.eq(Some(e)),
            m::email_verified.eq(verified),
            m::updated_at.eq(now),
        ));
        self.db.execute(q).await.map(drop)
    }

    pub async fn choose_factor(&self, id: &str, factor: Option<&str>, now: i64) -> StoreResult<()> {
        let f = factor.map(String::from);
        let q = diesel::update(m::members.find(id.to_string()))
            .set((m::chosen_factor.eq(f), m::updated_at.eq(now)));
        self.db.execute(q).await.map(drop)
    }

    pub async fn set_preferred_factor(&self, id: &str, factor: &str, now: i64) -> StoreResult<()> {
        let f = factor.to_string();
        let q = diesel::update(m::members.find(id.to_string()))
            .set((m::preferred_factor.eq(Some(f)), m::updated_at.eq(now)));
        self.db.execute(q).await.map(drop)
    }

    pub async fn set_email_otp(&self, id: &str, enabled: bool, now: i64) -> StoreResult<()> {
        let q = diesel::update(m::members.find(id.to_string()))
            .set((m::email_otp_enabled.eq(enabled), m::updated_at.eq(now)));
        self.db.execute(q).await.map(drop)
    }

    /// Records the end of first-login onboarding (first time only).
    pub async fn mark_onboarded(&self, id: &str, now: i64) -> StoreResult<()> {
        let q = diesel::update(
            m::members
                .find(id.to_string())
                .filter(m::onboarded_at.is_null()),
        )
        .set((m::onboarded_at.eq(Some(now)), m::updated_at.eq(now)));
        self.db.execute(q).await.map(drop)
    }

    pub async fn set_locale(&self, id: &str, locale: &str, now: i64) -> StoreResult<()> {
        let l = locale.to_string();
        let q = diesel::update(m::members.find(id.to_string()))
            .set((m::locale.eq(Some(l)), m::updated_at.eq(now)));
        self.db.execute(q).await.map(drop)
    }

    /// Forgets the member's email-OTP factor, factor choice and preference (staff reset).
    pub async fn clear_factors(&self, id: &str, now: i64) -> StoreResult<()> {
        let q = diesel::update(m::members.find(id.to_string())).set((
            m::email_otp_enabled.eq(false),
            m::chosen_factor.eq(None::<String>),
            m::preferred_factor.eq(None::<String>),
            m::updated_at.eq(now),
        ));
        self.db.execute(q).await.map(drop)
    }

    pub async fn touch_login(&self, id: &str, now: i64) -> StoreResult<()> {
        let id = id.to_string();
        self.db
            .run(move |c| {
                Ok(diesel::update(m::members.find(id))
                    .set(m::last_login_at.eq(Some(now)))
                    .execute(c)
                    .map(|_| ())?)
            })
            .await
    }

    /// Disables (`Some(now)`) or re-enables (`None`) a member; true when the row changed.
    pub async fn set_disabled(&self, id: &str, at: Option<i64>, now: i64) -> StoreResult<bool> {
        let id = id.to_string();
        self.db
            .run(move |c| {
                let q = diesel::update(m::members.find(id));
                let n = match at {
                    Some(_) => q
                        .filter(m::disabled_at.is_null())
                        .set((m::disabled_at.eq(at), m::updated_at.eq(now)))
                        .execute(c)?,
                    None => q
                        .filter(m::disabled_at.is_not_null())
                        .set((m::disabled_at.eq(None::<i64>), m::updated_at.eq(now)))
                        .execute(c)?,
                };
                Ok(n == 1)
            })
            .await
    }

    /// Staff change or clear a member's address (unverified: the member confirms it at the
    /// next sign-in, like an imported one).
    pub async fn set_unverified_email(
        &self,
        id: &str,
        email: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let e = email.map(|e| e.to_ascii_lowercase());
        let q = diesel::update(m::members.find(id.to_string())).set((
            m::email.eq(e),
            m::email_verified.eq(false),
            m::updated_at.eq(now),
        ));
        self.db.execute(q).await.map(drop)
    }

    pub async fn count(&self) -> StoreResult<i64> {
        self.db.run(|c| Ok(m::members.count().get_result(c)?)).await
    }
}
