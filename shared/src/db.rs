//! The durable store of either service: diesel over SQLite (embedded default) or PostgreSQL,
//! one query code path through a `MultiConnection`. diesel is synchronous, so every query runs
//! on the blocking pool through [`Db::run`]; handlers never touch a connection. Each service
//! embeds its own migrations (`migrations/<service>/{sqlite,postgres}`) and passes them in.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

/// A service's migrations for both backends.
pub struct Migrations {
    pub sqlite: EmbeddedMigrations,
    pub postgres: EmbeddedMigrations,
}

/// Lets a borrowed set of embedded migrations be run (diesel takes sources by value).
struct EmbeddedMigrationsRef<'a>(&'a EmbeddedMigrations);

impl<DB: diesel::backend::Backend> diesel::migration::MigrationSource<DB>
    for EmbeddedMigrationsRef<'_>
{
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        diesel::migration::MigrationSource::<DB>::migrations(self.0)
    }
}

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("blocking task failed: {0}")]
    Join(String),
}

impl StoreError {
    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(e.to_string())
    }

    /// Whether the database could not be reached (no connection within the pool's timeout,
    /// or the connection was lost mid-query): retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Pool(_) => true,
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)) => {
                true
            }
            // libpq reports a backend ended by the server (restart, pg_terminate_backend)
            // with SQLSTATE 57P01 etc., which diesel does not classify.
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("terminating connection")
                    || m.contains("server closed the connection")
                    || m.contains("no connection to the server")
                    || m.contains("could not receive data from server")
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Runs `f` in a transaction meant to write. On SQLite it begins with `BEGIN IMMEDIATE`: a
/// deferred transaction that reads first and writes later cannot wait for the write lock (SQLite
/// answers "database is locked" at once instead of honouring `busy_timeout`), so concurrent
/// writers would fail instead of queueing.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(v) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(v)
        }
        Err(e) => {
            // The error that made us roll back is the one worth reporting.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens connections of the configured kind, so errors are the real ones (the derived
/// `establish` would try each backend in turn and hide why the right one failed).
#[derive(Debug)]
struct Manager {
    url: String,
    backend: Backend,
}

#[derive(Debug)]
struct ConnError(String);
impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConnError {}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnError;

    fn connect(&self) -> Result<DbConn, ConnError> {
        match self.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.url)
                .map(DbConn::Pg)
                .map_err(|e| ConnError(e.to_string())),
            Backend::Sqlite => {
                let mut c = diesel::SqliteConnection::establish(&self.url)
                    .map_err(|e| ConnError(e.to_string()))?;
                // WAL lets readers proceed beside the single writer; busy_timeout makes writers
                // queue instead of failing under load. It comes first: switching a new file to WAL
                // takes a lock that the pool's other new connections must wait for. The WAL is
                // copied back into the database every 4,000 pages (16 MiB) rather than SQLite's
                // 1,000: the same hot index pages are then written back once instead of four times
                // (the checkpoint ran inside a request's commit and was a tenth of an SSO hop).
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = 4000;",
                )
                .map_err(|e| ConnError(e.to_string()))?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ConnError(e.to_string()))
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    unavailable: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A snapshot of the connection pool (exported as metrics).
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
    /// Operations that failed because the database could not be reached.
    pub unavailable: u64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connects to `sqlite://PATH` or `postgres://…` (creating the SQLite file's folder), with
    /// a 10 s wait for a pooled connection.
    pub fn connect(url: &str, pool_size: u32) -> StoreResult<Db> {
        Self::connect_with(url, pool_size, Duration::from_secs(10))
    }

    /// Like [`Db::connect`]; `checkout_timeout` bounds the wait for a connection (how long a
    /// request waits while the database is unreachable before it is answered 503). The pool is
    /// filled in the background rather than before this returns.
    pub fn connect_with(url: &str, pool_size: u32, checkout_timeout: Duration) -> StoreResult<Db> {
        let (backend, conn_url) = if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Migration(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            (Backend::Sqlite, path.to_string())
        } else {
            (Backend::Postgres, url.to_string())
        };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .connection_timeout(checkout_timeout)
            // A SQLite connection is a file handle and cannot go stale; testing it on every
            // checkout cost a statement per query. A PostgreSQL connection can (server restart,
            // idle timeout at a proxy), so it is checked before use.
            .test_on_check_out(backend == Backend::Postgres)
            .build_unchecked(Manager {
                url: conn_url,
                backend,
            });
        Ok(Db {
            pool,
            backend,
            unavailable: Default::default(),
        })
    }

    pub fn stats(&self) -> PoolStats {
        let s = self.pool.state();
        PoolStats {
            connections: s.connections,
            idle: s.idle_connections,
            max: self.pool.max_size(),
            unavailable: self.unavailable.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Counts and notes (in the request's scope) a failure to reach the database.
    fn observe<T>(&self, r: StoreResult<T>) -> StoreResult<T> {
        if let Err(e) = &r
            && e.is_unavailable()
        {
            self.unavailable
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::scope::note_outage(crate::scope::Backend::Database);
        }
        r
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations (start-up and the `migrate` commands). On PostgreSQL under a
    /// session advisory lock: replicas started together on an empty database would otherwise
    /// run the same migration at once, and all but one fail (`duplicate key … pg_type`); the
    /// others wait, then find nothing pending. SQLite serialises writers by itself.
    pub fn migrate(&self, migrations: &Migrations) -> StoreResult<Vec<String>> {
        const MIGRATION_LOCK: i64 = 0x6b_656e_706f_6d69; // "kenpomi"
        let mut conn = self.pool.get()?;
        let applied = match &mut *conn {
            DbConn::Sqlite(c) => c
                .run_pending_migrations(EmbeddedMigrationsRef(&migrations.sqlite))
                .map(|v| {
                    v.iter()
                        .map(std::string::ToString::to_string)
                        .collect::<Vec<_>>()
                })
                .map_err(|e| StoreError::Migration(e.to_string())),
            DbConn::Pg(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let r = c
                    .run_pending_migrations(EmbeddedMigrationsRef(&migrations.postgres))
                    .map(|v| {
                        v.iter()
                            .map(std::string::ToString::to_string)
                            .collect::<Vec<_>>()
                    })
                    .map_err(|e| StoreError::Migration(e.to_string()));
                // Released with the session too, should this fail.
                let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
                r
            }
        }?;
        Ok(applied)
    }

    /// [`Db::run`] for one diesel query: its error becomes a [`StoreError`].
    pub async fn query<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> QueryResult<T> + Send + 'static,
    {
        self.run(move |c| Ok(f(c)?)).await
    }

    /// The first row `query` selects, if any (one diesel query on the blocking pool).
    pub async fn first<T, Q>(&self, query: Q) -> StoreResult<Option<T>>
    where
        T: Send + 'static,
        Q: RunQueryDsl<DbConn> + diesel::query_dsl::methods::LimitDsl + Send + 'static,
        diesel::dsl::Limit<Q>: for<'a> diesel::query_dsl::LoadQuery<'a, DbConn, T>,
    {
        self.query(move |c| query.first(c).optional()).await
    }

    /// Every row `query` selects.
    pub async fn load<T, Q>(&self, query: Q) -> StoreResult<Vec<T>>
    where
        T: Send + 'static,
        Q: RunQueryDsl<DbConn>
            + for<'a> diesel::query_dsl::LoadQuery<'a, DbConn, T>
            + Send
            + 'static,
    {
        self.query(move |c| query.load(c)).await
    }

    /// Runs one statement (insert, update, delete): the number of rows it touched.
    pub async fn execute<Q>(&self, statement: Q) -> StoreResult<usize>
    where
        Q: RunQueryDsl<DbConn> + diesel::query_dsl::methods::ExecuteDsl<DbConn> + Send + 'static,
    {
        self.query(move |c| statement.execute(c)).await
    }

    /// [`Db::run`] for one statement whose row count does not matter.
    pub async fn exec<F>(&self, f: F) -> StoreResult<()>
    where
        F: FnOnce(&mut DbConn) -> QueryResult<usize> + Send + 'static,
    {
        self.run(move |c| f(c).map(drop).map_err(StoreError::from))
            .await
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))
        .and_then(|r| r);
        self.observe(r)
    }

    /// Runs `f` inside one write transaction (see [`write_tx`]).
    pub async fn tx<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
    {
        self.run(move |conn| write_tx(conn, f)).await
    }

    /// Synchronous access for the CLI and start-up code (not on async workers).
    pub fn blocking<T>(&self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        self.run(|c| c.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
    }
}
