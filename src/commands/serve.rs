use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use shared::adapters::embedded::{LocalJwt, PrometheusMetrics};
use shared::backoff::Backoff;
use shared::domain::WebhookTargets;
use shared::http::console::{DemoTokens, OidcToken, SignIn, console_router};
use shared::http::{
    BASE_PATH, ClaimRules, ServerLimits, api_router, cors_layer, finish, openapi_router, parse_origin, serve,
};
use shared::service::{ImportSettings, Settings, WebhookSettings};
use tokio::net::TcpListener;
use tracing::info;

use super::DataDirArg;
use super::backend::{self, Activities, BackendArgs, Runner};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:3000", env = "BUFDIR_ADDR")]
    addr: SocketAddr,
    /// Seed demo organisations and print a ready token and curl lines.
    #[arg(long)]
    demo: bool,
    /// Exports generated at the same time.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Exports one organisation may have queued or running at once.
    #[arg(long, default_value_t = 3, env = "BUFDIR_MAX_IN_FLIGHT")]
    max_in_flight: u32,
    /// Seconds without a heartbeat after which a running export is failed
    /// by the watchdog (and can be retried).
    #[arg(long, default_value_t = 600, env = "BUFDIR_STALL_LIMIT_SECS", value_parser = clap::value_parser!(u64).range(5..))]
    stall_limit_secs: u64,
    /// Base URL clients reach the server at, if not the listen address
    /// (download links are made from it).
    #[arg(long, env = "BUFDIR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Connections held open at once (lowered to fit the open-file limit);
    /// more wait until one closes.
    #[arg(long, default_value_t = 1024, env = "BUFDIR_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Seconds a client has to send a request's head, and that an idle
    /// keep-alive connection is kept.
    #[arg(long, default_value_t = 10, env = "BUFDIR_HEADER_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    header_timeout_secs: u64,
    /// The largest import file an upload link takes, in bytes.
    #[arg(long, default_value_t = 200 * 1024 * 1024, env = "BUFDIR_MAX_UPLOAD_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_upload_bytes: u64,
    /// Seconds an import's upload link works; an import whose file has
    /// not come by then expires.
    #[arg(long, default_value_t = 3600, env = "BUFDIR_UPLOAD_TTL_SECS", value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600))]
    upload_ttl_secs: u64,
    #[command(flatten)]
    backend: BackendArgs,
    /// An origin (`https://app.example.org`) whose web pages may call the
    /// API from a browser; repeatable. None: no CORS headers at all.
    #[arg(long = "cors-origin", env = "BUFDIR_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    cors_origins: Vec<String>,
    /// The console's sign-in through the organisation's identity provider
    /// (OpenID Connect, authorization code with PKCE): its issuer URL ...
    #[arg(long, env = "BUFDIR_CONSOLE_OIDC_ISSUER")]
    console_oidc_issuer: Option<String>,
    /// ... and the console's client id there (a public client; register
    /// this server's address followed by `/` as its redirect URI).
    #[arg(long, env = "BUFDIR_CONSOLE_OIDC_CLIENT_ID")]
    console_oidc_client_id: Option<String>,
    /// The scopes the console asks for.
    #[arg(long, env = "BUFDIR_CONSOLE_OIDC_SCOPE", default_value = "openid email profile")]
    console_oidc_scope: String,
    /// Send the provider's access token to the API instead of its ID token
    /// (when the access token is the one naming the organisations).
    #[arg(long, env = "BUFDIR_CONSOLE_OIDC_ACCESS_TOKEN")]
    console_oidc_access_token: bool,
    /// The token claims naming the caller's organisations, comma-separated
    /// (a name, or a dotted path into nested claims).
    #[arg(long, env = "BUFDIR_ORG_CLAIMS", default_value = "org_ids,org_id")]
    org_claims: String,
    /// The token claim that makes a caller an administrator when it holds
    /// `--admin-claim-value`.
    #[arg(long, env = "BUFDIR_ADMIN_CLAIM", default_value = "roles")]
    admin_claim: String,
    #[arg(long, env = "BUFDIR_ADMIN_CLAIM_VALUE", default_value = "admin")]
    admin_claim_value: String,
    /// Where exports run: in this process (the default with the embedded
    /// backend) or in Step Functions (the default with `--backend aws`).
    #[arg(long, value_enum, env = "BUFDIR_RUNNER")]
    runner: Option<Runner>,
    #[command(flatten)]
    webhooks: WebhookArgs,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(clap::Args)]
pub struct WebhookArgs {
    /// A host webhooks may be delivered to although it is private or
    /// loopback, over plain http too (a receiver on 127.0.0.1 in tests and
    /// local development); repeatable. Any other must be public https.
    #[arg(long = "webhook-allow-host", env = "BUFDIR_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',')]
    allow_hosts: Vec<String>,
    /// The longest wait before a delivery's first retry, in milliseconds;
    /// each next wait doubles, up to --webhook-retry-max-ms.
    #[arg(long = "webhook-retry-first-ms", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    retry_first_ms: u64,
    #[arg(long = "webhook-retry-max-ms", default_value_t = 3_600_000, value_parser = clap::value_parser!(u64).range(1..))]
    retry_max_ms: u64,
    /// Seconds after its event a delivery is given up (and its endpoint disabled).
    #[arg(long = "webhook-give-up-after-secs", default_value_t = 72 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    give_up_after_secs: u64,
    /// Milliseconds a receiver has to answer one attempt.
    #[arg(long = "webhook-timeout-ms", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    timeout_ms: u64,
}

impl WebhookArgs {
    fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            retry: Backoff::new(
                Duration::from_millis(self.retry_first_ms),
                2,
                Duration::from_millis(self.retry_max_ms.max(self.retry_first_ms)),
            ),
            give_up_after: Duration::from_secs(self.give_up_after_secs),
            targets: WebhookTargets::new(&self.allow_hosts),
            timeout: Duration::from_millis(self.timeout_ms),
            ..WebhookSettings::default()
        }
    }
}

/// The demo organisations: (org, activities over 2024-2025, seed).
const DEMO_ORGS: [(&str, u64, u64); 2] = [("org-demo", 3000, 42), ("org-other", 800, 7)];
/// Who the demo token and the console's demo sign-in act as, and for how long.
const DEMO_USER: &str = "demo-user";
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
    let local = listener.local_addr()?;
    let base_url = args.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    let settings = Settings {
        max_in_flight: args.max_in_flight.max(1),
        stall_limit: Duration::from_secs(args.stall_limit_secs),
        webhooks: args.webhooks.settings(),
        ..Settings::default()
    };
    let import_settings = ImportSettings {
        max_upload_bytes: args.max_upload_bytes,
        upload_ttl: Duration::from_secs(args.upload_ttl_secs),
    };
    let rules = ClaimRules::from_config(Some(&args.org_claims), Some(&args.admin_claim), Some(&args.admin_claim_value))
        .map_err(|e| anyhow::anyhow!("--org-claims/--admin-claim: {e}"))?;
    let mut wired = backend::wire(
        &args.backend,
        args.runner,
        &args.data.data_dir,
        base_url.trim_end_matches('/'),
        args.concurrency,
        settings,
        import_settings,
    )
    .await?;

    if rules != ClaimRules::default() {
        tracing::warn!(
            "tokens are read with other claim names than the ones `token` and --demo print; those tokens are refused"
        );
    }
    wired.state.auth = Arc::new((*wired.jwt).clone().with_rules(rules));
    if args.demo {
        seed_demo(&wired.activities).await?;
    }
    if let Some(runner) = &wired.runner {
        let resumed = runner.resume_unfinished().await?;
        if resumed > 0 {
            info!(resumed, "resumed exports left unfinished by the last run");
        }
    }

    for task in wired.background.drain(..) {
        tokio::spawn(task);
    }
    spawn_file_expiry(wired.state.service.clone(), wired.state.attachments.clone());
    spawn_attachment_sweep(wired.state.attachments.clone(), wired.activities.source());
    spawn_watchdog(wired.state.service.clone(), wired.state.imports.clone());

    let oidc_token = if args.console_oidc_access_token { OidcToken::AccessToken } else { OidcToken::IdToken };
    let oidc = SignIn::oidc(
        args.console_oidc_issuer.as_deref(),
        args.console_oidc_client_id.as_deref(),
        Some(&args.console_oidc_scope),
        oidc_token,
    )
    .map_err(|e| anyhow::anyhow!("--console-oidc-issuer/--console-oidc-client-id: {e}"))?;
    let console = if let Some(oidc) = oidc {
        console_router(oidc, None)
    } else if args.demo {
        let jwt = wired.jwt.clone();
        let demo: DemoTokens =
            Arc::new(move || jwt.issue(DEMO_USER, &[DEMO_ORGS[0].0.to_string()], false, DEMO_TOKEN_TTL));
        console_router(SignIn::Demo, Some(demo))
    } else {
        console_router(SignIn::Token, None)
    };
    let mut router = api_router(wired.state.clone())
        .merge(openapi_router())
        .merge(metrics_router(wired.metrics.clone()))
        .merge(console);
    if let Some(extra) = wired.extra_routes {
        router = router.merge(extra);
    }
    let mut router = finish(router);
    if let Some(cors) = cors_layer(&args.cors_origins) {
        router = router.layer(cors);
    }

    println!("Bufdir export service listening on {base_url} ({})", wired.location);
    println!("The console: open {base_url}/ in a browser");
    if args.demo {
        print_demo_help(&wired.jwt, &base_url);
    }
    let limits = ServerLimits {
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        max_connections: connection_bound(args.max_connections),
        ..ServerLimits::default()
    };
    serve(listener, router, limits, shutdown_signal()).await.context("serving HTTP")?;
    info!("stopped; unfinished exports resume on the next start");
    Ok(())
}

/// File descriptors kept free of connections: the databases, files being
/// written or served, outgoing connections to storage and receivers.
const RESERVED_FDS: u64 = 64;

/// The connection bound, lowered to fit the process's open-file limit
/// (raised to its hard limit first), so that accept never fails with
/// "too many open files" and the server can always open its own files.
fn connection_bound(wanted: u64) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let bound = wanted.min(files.saturating_sub(RESERVED_FDS).max(1));
    if bound < wanted {
        tracing::warn!(
            wanted,
            bound,
            open_file_limit = files,
            "fewer connections allowed than asked: the open-file limit is low"
        );
    }
    usize::try_from(bound).unwrap_or(usize::MAX)
}

/// Deletes files past their `file_expires_at`, and attachment uploads no
/// activity claimed in time, at start and then hourly.
fn spawn_file_expiry(
    service: std::sync::Arc<shared::service::ExportService>,
    attachments: std::sync::Arc<shared::service::AttachmentService>,
) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            match service.purge_expired_files(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => info!(files = n, "expired export files deleted"),
                Err(e) => tracing::warn!(error = %e, "expired files not purged; trying again in an hour"),
            }
            match service.purge_expired_audit(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => info!(entries = n, "expired audit entries removed"),
                Err(e) => tracing::warn!(error = %e, "expired audit entries not removed; trying again in an hour"),
            }
            match attachments.expire_unclaimed(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => info!(files = n, "unclaimed attachment uploads removed"),
                Err(e) => {
                    tracing::warn!(error = %e, "unclaimed attachment uploads not removed; trying again in an hour")
                }
            }
        }
    });
}

/// Moves claimed attachment files no activity names back to wait (where
/// they expire unless named again), at start and then daily: each pass
/// reads the activities of every organisation that has such files.
fn spawn_attachment_sweep(
    attachments: std::sync::Arc<shared::service::AttachmentService>,
    activities: std::sync::Arc<dyn shared::ports::ActivitySource>,
) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            every.tick().await;
            if let Err(e) = attachments.release_unnamed(activities.as_ref(), chrono::Utc::now()).await {
                tracing::warn!(error = %e, "attachment files not swept; trying again tomorrow");
            }
        }
    });
}

/// Fails running exports whose heartbeat stopped and starts queued ones
/// nobody runs, every half minute, or four times per stall limit when
/// that is shorter, so nothing waits much past the limit. Expires imports
/// whose file never came and starts again those whose run died.
fn spawn_watchdog(
    service: std::sync::Arc<shared::service::ExportService>,
    imports: std::sync::Arc<shared::service::ImportService>,
) {
    let every = (service.settings().stall_limit / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(every);
        loop {
            every.tick().await;
            let now = chrono::Utc::now();
            if let Err(e) = service.watchdog(now).await {
                tracing::warn!(error = %e, "watchdog pass failed; trying again shortly");
            }
            match imports.sweep(now).await {
                Ok((0, 0)) => {}
                Ok((expired, restarted)) => info!(expired, restarted, "imports swept"),
                Err(e) => tracing::warn!(error = %e, "import sweep failed; trying again shortly"),
            }
        }
    });
}

async fn seed_demo(activities: &Activities) -> anyhow::Result<()> {
    for (org, count, seed) in DEMO_ORGS {
        if let Some(n) = activities.seed_if_empty(org, count, 2024..=2025, seed).await? {
            info!(org, n, "seeded demo activities");
        }
    }
    Ok(())
}

fn print_demo_help(jwt: &LocalJwt, base: &str) {
    let token = jwt.issue(DEMO_USER, &[DEMO_ORGS[0].0.to_string()], false, DEMO_TOKEN_TTL);
    let api = format!("{base}{BASE_PATH}");
    println!(
        r#"
Demo data: org-demo and org-other, activities in 2024 and 2025.
A token for org-demo, valid 12 hours:

export TOKEN={token}

# create an export (answers 202 with its export_id)
curl -s -X POST {api} -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{{"org_id":"org-demo","format":"excel","period_from":"2025-01-01","period_to":"2025-12-31","activity_types":["group_session","individual_counseling"],"include_attachments":false,"submit_to_bufdir_api":false}}'

# list, newest first
curl -s "{api}?page=1&limit=20" -H "Authorization: Bearer $TOKEN"

# status, progress and a fresh download link (file_url)
curl -s {api}/EXPORT_ID -H "Authorization: Bearer $TOKEN"

# download the file: curl -o report.xlsx "FILE_URL"

# cancel, retry, delete
curl -s -X PUT {api}/EXPORT_ID/cancel -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{{"reason":"Incorrect date range selected"}}'
curl -s -X POST {api}/EXPORT_ID/retry -H "Authorization: Bearer $TOKEN"
curl -s -X DELETE {api}/EXPORT_ID -H "Authorization: Bearer $TOKEN"
"#
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Where the process's counters are read, in Prometheus' text format. Not
/// behind a token, like a scrape target: it holds counts by format,
/// outcome and failure code, never an organisation or an id.
fn metrics_router(metrics: Arc<PrometheusMetrics>) -> axum::Router {
    axum::Router::new().route(
        METRICS_PATH,
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
            }
        }),
    )
}

/// The path of the Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";
