//! The staff and operator command line: `idp serve | migrate | members … | clients … | keys …`.

pub mod demo;
use crate::members_csv as import;
pub mod staff;

pub use staff::StaffCmd;
use staff::{cli_state, find, member_action};

use crate::config::Config;
use crate::oidc::keys::{Alg, KeyRing};
use crate::security::tokens::new_token;
use crate::staff::actions::Action;
use crate::startup;
use crate::state::rotation_policy;
use crate::store::audit::{Actor, AuditLog, StaffRef};
use crate::store::clients::{AuthMethod, Client, ClientStore, NewClient};
use crate::store::ephemeral::Ephemeral;
use crate::store::members::MemberStore;
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use kenpo_shared::Clock;
use kenpo_shared::ids::UserId;
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "idp", about = "kenpo identity provider", version)]
pub struct Cli {
    /// Configuration file (TOML); `KENPO_IDP_…` environment variables override it.
    #[arg(long, short, env = "KENPO_IDP_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the IdP.
    Serve {
        /// Seed the demo member and demo relying party (embedded mode).
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Members: import, resets, unlock, audit trail.
    #[command(subcommand)]
    Members(MembersCmd),
    /// Relying parties.
    #[command(subcommand)]
    Clients(ClientsCmd),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Encryption keys for secrets at rest.
    #[command(subcommand)]
    Secrets(SecretsCmd),
    /// Staff accounts of the web console (`/staff`).
    #[command(subcommand)]
    Staff(StaffCmd),
}

#[derive(Subcommand, Debug)]
pub enum MembersCmd {
    /// Import or update members from a CSV file (all or nothing).
    Import {
        file: PathBuf,
        /// Check the file and report, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Make the initial password work again (記号+番号+birthdate) for one member or everyone.
    ResetPassword {
        user_id: Option<String>,
        /// Every member (the renewal reset).
        #[arg(long, conflicts_with = "user_id")]
        all: bool,
    },
    /// Clear a member's failed-attempt count and delay.
    Unlock {
        user_id: String,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "command line")]
        reason: String,
    },
    /// Remove a member's second factors; they enrol again at the next sign-in.
    ResetMfa {
        user_id: String,
        #[arg(long, default_value = "command line")]
        reason: String,
    },
    /// Show a member's audit trail (sign-ins, factor changes, staff actions).
    Audit {
        user_id: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Args, Debug)]
pub struct AddClient {
    /// The client_id.
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub name: String,
    /// Exact redirect URI (repeat for several).
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt or none (public).
    #[arg(long, default_value = "client_secret_basic")]
    pub auth_method: String,
    /// JWK Set (JSON) for private_key_jwt.
    #[arg(long)]
    pub jwks: Option<String>,
    /// Ask members for consent (a service not run by the union).
    #[arg(long)]
    pub third_party: bool,
    /// ES256, EdDSA or RS256.
    #[arg(long)]
    pub alg: Option<String>,
    /// A legacy confidential client that cannot send PKCE (S256 is required otherwise).
    #[arg(long)]
    pub pkce_optional: bool,
    /// Authorization requests only by pushed request (PAR, RFC 9126).
    #[arg(long)]
    pub require_par: bool,
    /// Token requests only with a DPoP proof (RFC 9449).
    #[arg(long)]
    pub require_dpop: bool,
}

#[derive(Subcommand, Debug)]
pub enum ClientsCmd {
    /// Register (or replace) a client; prints a generated secret once.
    Add(AddClient),
    List,
    Remove {
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Start new signing keys now (all algorithms, or one) and retire the current ones.
    Rotate {
        #[arg(long)]
        alg: Option<String>,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum SecretsCmd {
    /// Print a new `ID:BASE64` key for `secrets.keys`.
    GenerateKey {
        #[arg(default_value = "k2")]
        id: String,
    },
    /// Re-encrypt signing keys and TOTP secrets with the first configured key.
    Reseal,
}

fn user(input: &str) -> anyhow::Result<UserId> {
    UserId::parse(input).map_err(|e| anyhow::anyhow!("user ID `{input}`: {e}"))
}

/// Runs a CLI command other than `serve`.
pub async fn run(config: Config, command: Command) -> anyhow::Result<()> {
    let now = Clock::System.now().unix_timestamp();
    match command {
        Command::Serve { .. } => unreachable!("handled by main"),
        Command::Migrate => {
            startup::open_db(&config)?;
            println!("migrations applied");
        }
        Command::Members(cmd) => members(&config, cmd, now).await?,
        Command::Staff(cmd) => staff::run(config, cmd, now).await?,
        Command::Clients(cmd) => clients(&config, cmd, now).await?,
        Command::Keys(KeysCmd::Rotate { alg }) => {
            let db = startup::open_db(&config)?;
            let sbox = startup::open_secretbox(&config)?;
            let algs = match alg {
                Some(a) => {
                    vec![Alg::parse(&a).with_context(|| format!("unknown algorithm `{a}`"))?]
                }
                None => Alg::ALL.to_vec(),
            };
            let created =
                KeyRing::rotate_now(&db, &sbox, &algs, rotation_policy(&config), now).await?;
            for kid in created {
                println!("new signing key {kid} (replicas pick it up within keys.reload_secs)");
            }
        }
        Command::Keys(KeysCmd::List) => {
            let db = startup::open_db(&config)?;
            println!(
                "{:<32} {:<6} {:<10} {:<20} {:<20}",
                "kid", "alg", "state", "activates", "published until"
            );
            for k in crate::store::keys::KeyStore::new(db).all().await? {
                let state = match (k.retired_at, k.activates_at > now) {
                    (Some(_), _) => "retired",
                    (None, true) => "pending",
                    (None, false) => "active",
                };
                println!(
                    "{:<32} {:<6} {:<10} {:<20} {:<20}",
                    k.kid,
                    k.alg,
                    state,
                    fmt_time(k.activates_at),
                    k.expires_at.map(fmt_time).unwrap_or_else(|| "-".into())
                );
            }
        }
        Command::Secrets(SecretsCmd::GenerateKey { id }) => {
            println!("{}", crate::security::secretbox::generate_key(&id));
        }
        Command::Secrets(SecretsCmd::Reseal) => {
            let db = startup::open_db(&config)?;
            let sbox = startup::open_secretbox(&config)?;
            let n = crate::store::keys::KeyStore::new(db.clone())
                .reseal(move |row| {
                    let aad = format!("signing-key:{}", row.kid);
                    if !sbox.is_stale(&row.private_key_enc) {
                        return None;
                    }
                    sbox.open(&aad, &row.private_key_enc)
                        .ok()
                        .map(|plain| sbox.seal(&aad, &plain))
                })
                .await?;
            println!("{n} signing keys re-encrypted");
            let sbox = startup::open_secretbox(&config)?;
            let n = crate::mfa::totp::reseal_all(&db, &sbox).await?;
            println!("{n} TOTP secrets re-encrypted");
        }
    }
    Ok(())
}

pub use crate::members_csv::today_jst;

pub(crate) fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

async fn members(config: &Config, cmd: MembersCmd, now: i64) -> anyhow::Result<()> {
    let db = startup::open_db(config)?;
    let store = MemberStore::new(db.clone());
    let audit = AuditLog::new(db.clone());
    match cmd {
        MembersCmd::Import { file, dry_run } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let today = time::OffsetDateTime::now_utc().date();
            let rows = match import::parse(&bytes, today) {
                Ok(rows) => rows,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{}: {e}", file.display());
                    }
                    bail!("{} problem(s) found; nothing was imported", errors.len());
                }
            };
            if dry_run {
                println!("{} rows are valid (dry run: nothing imported)", rows.len());
                return Ok(());
            }
            drop(rows);
            let state = cli_state(config).await?;
            let by = StaffRef {
                staff_id: None,
                reason: format!("command line: {}", file.display()),
            };
            let name = file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            match crate::staff::import::import_members(&state, &bytes, &name, &by, now).await? {
                Ok(done) => println!(
                    "imported: {} created, {} updated (import {})",
                    done.created, done.updated, done.id
                ),
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{}: {p}", file.display());
                    }
                    bail!(
                        "{} conflict(s) with existing members; nothing was imported",
                        problems.len()
                    );
                }
            }
        }
        MembersCmd::ResetPassword { user_id, all } => {
            let target = match (user_id, all) {
                (Some(u), false) => Some(user(&u)?),
                (None, true) => None,
                _ => bail!("give a USER_ID or --all"),
            };
            let n = match &target {
                Some(u) => {
                    let state = cli_state(config).await?;
                    let m = find(&state, u.as_str()).await?;
                    let done =
                        member_action(&state, &m, Action::ResetPassword, "command line", now)
                            .await?;
                    if done.letter_code.is_some() {
                        println!(
                            "letter mode: print the member's new letter in the staff console (member page → 招待状の再発行)"
                        );
                    }
                    1
                }
                None => {
                    let n = store.reset_password(None, now).await?;
                    audit
                        .record(
                            None,
                            Actor::Staff,
                            "password.reset_all",
                            json!({"members": n}),
                            None,
                            now,
                        )
                        .await?;
                    n
                }
            };
            println!(
                "{n} member(s) reset: the initial password (記号+番号+生年月日) works for {} days",
                config.password.initial_password_days
            );
        }
        MembersCmd::Unlock { user_id, reason } => {
            let state = cli_state(config).await?;
            if matches!(state.eph, Ephemeral::Memory(_)) {
                println!(
                    "note: the in-process store belongs to the running server; use the staff console (or Redis) for this to take effect"
                );
            }
            let m = find(&state, &user_id).await?;
            let done = member_action(&state, &m, Action::Unlock, &reason, now).await?;
            println!(
                "{user_id}: {} failed attempt(s) cleared",
                done.detail["failures"]
            );
        }
        MembersCmd::ResetMfa { user_id, reason } => {
            let state = cli_state(config).await?;
            let m = find(&state, &user_id).await?;
            member_action(&state, &m, Action::ResetMfa, &reason, now).await?;
            println!(
                "{user_id}: second factors removed; the member chooses and enrols one at the next sign-in"
            );
        }
        MembersCmd::Audit { user_id, limit } => {
            let m = store
                .by_user_id(&user(&user_id)?)
                .await?
                .context("no such member")?;
            for e in audit.for_member(&m.id, limit).await? {
                println!(
                    "{}  {:<7} {:<24} {} {}",
                    fmt_time(e.at),
                    e.actor,
                    e.kind,
                    e.detail,
                    e.ip.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

async fn clients(config: &Config, cmd: ClientsCmd, now: i64) -> anyhow::Result<()> {
    let db = startup::open_db(config)?;
    let store = ClientStore::new(db);
    match cmd {
        ClientsCmd::Add(a) => {
            let method = AuthMethod::parse(&a.auth_method)
                .with_context(|| format!("unknown auth method `{}`", a.auth_method))?;
            let secret = matches!(
                method,
                AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
            )
            .then(new_token);
            let jwks = a
                .jwks
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("--jwks is not JSON")?;
            let id_token_alg = a
                .alg
                .as_deref()
                .map(|s| Alg::parse(s).with_context(|| format!("unknown algorithm `{s}`")))
                .transpose()?;
            let client = Client {
                client_id: a.id.clone(),
                name: a.name,
                secret_hash: None,
                source: String::new(),
                auth_method: method,
                jwks,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                backchannel_logout_uri: a.backchannel_logout_uri,
                third_party: a.third_party,
                id_token_alg,
                scopes: Vec::new(),
                pkce_optional: a.pkce_optional,
                require_par: a.require_par,
                require_dpop: a.require_dpop,
            };
            let client = NewClient {
                client,
                secret: secret.clone().map(kenpo_shared::Secret::new),
            }
            .validate()
            .map_err(anyhow::Error::msg)?;
            store.upsert(client, "cli", now).await?;
            println!("client {} registered", a.id);
            if let Some(s) = secret {
                println!(
                    "client_secret: {s}\n(shown once; store it in the relying party's configuration)"
                );
            }
        }
        ClientsCmd::List => {
            for c in store.list().await? {
                println!(
                    "{:<24} {:<20} {:<8} {:<6} {:<10} {}",
                    c.client_id,
                    c.auth_method.as_str(),
                    c.source,
                    if c.third_party { "3rd" } else { "union" },
                    if c.pkce_optional { "pkce-opt" } else { "pkce" },
                    c.redirect_uris.join(" ")
                );
            }
        }
        ClientsCmd::Remove { client_id } => {
            if store.remove(&client_id).await? {
                println!("client {client_id} removed (its grants are gone with it)");
            } else {
                bail!("no client {client_id}");
            }
        }
    }
    Ok(())
}
