//! The command line: one module per command.

mod activities;
mod backend;
mod export;
mod serve;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "bufdir-exports",
    version,
    about = "Bufdir grant report exports: the export API on one machine, and its tools"
)]
pub struct Cli {
    /// Log lines as JSON (one object per line) instead of text.
    #[arg(long, global = true, value_enum, default_value = "text", env = "BUFDIR_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the export API (embedded storage, or the AWS stack with `--backend aws`).
    Serve(serve::ServeArgs),
    /// Print a bearer token the local server accepts.
    Token(token::TokenArgs),
    /// Import or generate activities.
    #[command(subcommand)]
    Activities(activities::ActivitiesCommand),
    /// Run one export through the service and workflow and write the file.
    Export(export::ExportArgs),
    /// Print the API's OpenAPI document (as checked in at infra/openapi.json).
    Openapi,
}

/// Where everything is kept: the database, files, secrets.
#[derive(clap::Args, Clone)]
pub struct DataDirArg {
    #[arg(long, default_value = "./data", env = "BUFDIR_DATA_DIR")]
    pub data_dir: PathBuf,
}

pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match cli.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Token(args) => token::run(args),
        Command::Activities(cmd) => activities::run(cmd).await,
        Command::Export(args) => export::run(args).await,
        Command::Openapi => {
            print!("{}", shared::http::openapi_json());
            Ok(())
        }
    }
}
