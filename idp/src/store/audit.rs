//! The audit trail: sign-ins, factor changes, staff actions. Append-only from the application.

use super::schema::audit_events::dsl as a;
use super::{Db, StoreResult};
use diesel::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub member_id: Option<String>,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub ip: Option<String>,
    pub at: i64,
    /// The staff account behind a staff action (console or CLI by an administrator).
    pub staff_id: Option<String>,
    /// Why staff did it, as they typed it.
    pub reason: Option<String>,
}

/// A staff action's author and reason, recorded with the event.
#[derive(Debug, Clone)]
pub struct StaffRef {
    /// None for the command line (an operator on the server).
    pub staff_id: Option<String>,
    pub reason: String,
}

impl StaffRef {
    /// A staff member acting on their own account (a sign-in, a passkey): no reason asked.
    pub fn own(staff_id: &str) -> StaffRef {
        StaffRef {
            staff_id: Some(staff_id.to_string()),
            reason: String::new(),
        }
    }
}

/// What a staff audit search looks for (all given parts must match).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub member_id: Option<String>,
    pub staff_id: Option<String>,
    /// A kind or its prefix (`member.`).
    pub kind_prefix: Option<String>,
    pub before_id: Option<i64>,
}

/// Who caused an event.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    Member,
    Staff,
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Member => "member",
            Actor::Staff => "staff",
            Actor::System => "system",
        }
    }
}

/// See [`AuditLog::member`].
/// For an audit write whose action has already happened and must not fail for its entry
/// (`log.record(…).await.or_log(kind)`): a failed write is logged as an error, visible to
/// operators, never silently dropped.
pub trait OrLog {
    fn or_log(self, kind: &str);
}

impl OrLog for StoreResult<()> {
    fn or_log(self, kind: &str) {
        if let Err(e) = self {
            tracing::error!(error = %e, kind, "audit record failed");
        }
    }
}

pub struct MemberTrail<'a> {
    log: AuditLog,
    member_id: &'a str,
    ip: Option<&'a str>,
    at: i64,
}

impl MemberTrail<'_> {
    /// Records `kind`; a failed write is logged: what the member did has happened.
    pub async fn log(&self, kind: &str, detail: Value) {
        let log = &self.log;
        log.record(
            Some(self.member_id),
            Actor::Member,
            kind,
            detail,
            self.ip,
            self.at,
        )
        .await
        .or_log(kind);
    }
}

#[derive(Clone)]
pub struct AuditLog {
    db: Db,
    metrics: Option<std::sync::Arc<crate::metrics::IdpMetrics>>,
}

impl AuditLog {
    pub fn new(db: Db) -> Self {
        Self { db, metrics: None }
    }

    /// Also counts every recorded event in the metrics (sign-ins by factor, onboarding, …).
    pub fn observed(mut self, metrics: std::sync::Arc<crate::metrics::IdpMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub async fn record(
        &self,
        member_id: Option<&str>,
        actor: Actor,
        kind: &str,
        detail: Value,
        ip: Option<&str>,
        at: i64,
    ) -> StoreResult<()> {
        if let Some(m) = &self.metrics {
            m.audited(kind, &detail);
        }
        let (member_id, kind, ip) = (
            member_id.map(String::from),
            kind.to_string(),
            ip.map(String::from),
        );
        let q = diesel::insert_into(a::audit_events).values((
            a::member_id.eq(member_id),
            a::actor.eq(actor.as_str()),
            a::kind.eq(kind),
            a::detail.eq(detail.to_string()),
            a::ip.eq(ip),
            a::at.eq(at),
        ));
        self.db.execute(q).await.map(drop)
    }

    /// The events of one member in one request (actor `member`, same address and time).
    pub fn member<'a>(self, member_id: &'a str, ip: Option<&'a str>, at: i64) -> MemberTrail<'a> {
        MemberTrail {
            log: self,
            member_id,
            ip,
            at,
        }
    }

    /// A staff action: actor `staff`, with the staff member and the reason.
    pub async fn record_staff(
        &self,
        member_id: Option<&str>,
        by: &StaffRef,
        kind: &str,
        detail: Value,
        ip: Option<&str>,
        at: i64,
    ) -> StoreResult<()> {
        let (member_id, kind, ip) = (
            member_id.map(String::from),
            kind.to_string(),
            ip.map(String::from),
        );
        let (staff_id, reason) = (by.staff_id.clone(), by.reason.clone());
        let q = diesel::insert_into(a::audit_events).values((
            a::member_id.eq(member_id),
            a::actor.eq(Actor::Staff.as_str()),
            a::kind.eq(kind),
            a::detail.eq(detail.to_string()),
            a::ip.eq(ip),
            a::at.eq(at),
            a::staff_id.eq(staff_id),
            a::reason.eq(Some(reason)),
        ));
        self.db.execute(q).await.map(drop)
    }

    /// Events matching a staff search, newest first (`limit` of them, older than
    /// `before_id` when paging).
    pub async fn search(&self, q: &AuditQuery, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let q = q.clone();
        self.db
            .run(move |c| {
                let mut sql = a::audit_events.select(AuditEvent::as_select()).into_boxed();
                if let Some(m) = q.member_id {
                    sql = sql.filter(a::member_id.eq(m));
                }
                if let Some(s) = q.staff_id {
                    sql = sql.filter(a::staff_id.eq(s));
                }
                if let Some(k) = q.kind_prefix {
                    sql = sql.filter(a::kind.like(format!("{}%", k.replace(['%', '_'], ""))));
                }
                if let Some(b) = q.before_id {
                    sql = sql.filter(a::id.lt(b));
                }
                Ok(sql.order(a::id.desc()).limit(limit).load(c)?)
            })
            .await
    }

    /// A member's events, newest first.
    pub async fn for_member(&self, member_id: &str, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let q = a::audit_events
            .filter(a::member_id.eq(member_id.to_string()))
            .order((a::at.desc(), a::id.desc()))
            .limit(limit)
            .select(AuditEvent::as_select());
        self.db.load(q).await
    }
}
